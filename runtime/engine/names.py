"""Container names as docker makes them: adjective_surname (a shorter list than moby's namesgenerator,
same idea), and the rules a user-given name must follow."""
import os

from runtime.errors import InvalidArgument

ADJECTIVES = (
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful",
    "bold", "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending",
    "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager", "ecstatic",
    "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive", "flamboyant", "focused",
    "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore",
    "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly", "jovial",
    "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying", "naughty",
    "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive",
    "practical", "priceless", "quirky", "quizzical", "recursing", "relaxed", "reverent", "romantic", "sad",
    "serene", "sharp", "silly", "sleepy", "stoic", "strange", "stupefied", "suspicious", "sweet", "tender",
    "thirsty", "trusting", "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful",
    "xenodochial", "youthful", "zealous", "zen")
SURNAMES = (
    "albattani", "allen", "almeida", "archimedes", "ardinghelli", "babbage", "banach", "bardeen", "bartik",
    "bassi", "bell", "benz", "bhabha", "blackwell", "bohr", "booth", "borg", "bose", "boyd", "brahmagupta",
    "brattain", "brown", "buck", "burnell", "cannon", "carson", "cartwright", "cerf", "chandrasekhar", "chaum",
    "clarke", "colden", "cori", "cray", "curie", "darwin", "davinci", "dewdney", "dijkstra", "dubinsky", "easley",
    "edison", "einstein", "elion", "engelbart", "euclid", "euler", "faraday", "feistel", "fermat", "fermi",
    "feynman", "franklin", "galileo", "gates", "goldberg", "goldstine", "goodall", "gould", "hamilton", "hawking",
    "heisenberg", "hermann", "hodgkin", "hoover", "hopper", "hugle", "hypatia", "jackson", "jang", "jennings",
    "jepsen", "johnson", "joliot", "jones", "kalam", "kapitsa", "keldysh", "kepler", "khorana", "kilby",
    "kirch", "knuth", "kowalevski", "lalande", "lamarr", "lamport", "leakey", "leavitt", "lederberg", "lehmann",
    "lewin", "liskov", "lovelace", "lumiere", "mahavira", "margulis", "matsumoto", "maxwell", "mayer", "mccarthy",
    "mcclintock", "meitner", "mendel", "mendeleev", "merkle", "minsky", "mirzakhani", "montalcini", "moore",
    "morse", "moser", "napier", "nash", "neumann", "newton", "nobel", "noether", "northcutt", "noyce", "panini",
    "pare", "pascal", "pasteur", "payne", "perlman", "pike", "poincare", "poitras", "ptolemy", "raman",
    "ramanujan", "ride", "ritchie", "robinson", "roentgen", "rosalind", "rubin", "saha", "sammet", "shannon",
    "shaw", "shirley", "shockley", "sinoussi", "snyder", "spence", "stallman", "stonebraker", "swanson",
    "swartz", "swirles", "taussig", "tesla", "tharp", "thompson", "torvalds", "turing", "varahamihira",
    "villani", "visvesvaraya", "volhard", "wescoff", "wilbur", "wiles", "williams", "wilson", "wing", "wozniak",
    "wright", "wu", "yalow", "yonath")


def _pick(seq):
    return seq[int.from_bytes(os.urandom(4), "big") % len(seq)]  # (random costs ~3 ms to import)


def generate(attempt: int = 0) -> str:
    """eager_turing; after a clash, eager_turing3 (as moby retries with a digit)."""
    name = f"{_pick(ADJECTIVES)}_{_pick(SURNAMES)}"
    if name == "boring_wozniak":  # moby's one exception: Steve Wozniak is not boring
        return generate(attempt)
    return name + (_pick("0123456789") if attempt else "")


def validate(name: str) -> str:
    """docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a leading / is allowed and dropped)."""
    n = name[1:] if name.startswith("/") else name
    ok = len(n) >= 2 and n[0].isascii() and n[0].isalnum() and all(
        c.isascii() and (c.isalnum() or c in "_.-") for c in n)
    if not ok:
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return n
