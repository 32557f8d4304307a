"""hull completion bash: a bash completion script generated from the verb tables, so that it offers
exactly the commands, management subcommands and flags this hull parses, and never drifts.

Names (containers, images, networks, volumes) are completed live: the script asks the hull on the
command line (`hull ps -a --format '{{.Names}}'` ...), passing on the line's --root. Only the
choice of which names suit which positional is kept here, in POSITIONALS.
"""
import sys

from runtime.cli.args import Flag, Verb
from runtime.errors import InvalidArgument

VERBS = [Verb("completion", "print a shell completion script (bash)", [], ["shell"])]

_CONTAINER_VERBS = ("start", "attach", "stop", "restart", "kill", "rm", "wait", "rename", "pause", "unpause", "port",
                    "update", "logs", "exec", "top", "stats", "diff", "commit", "export")
# which names each positional of a verb takes (internal verb names); for a verb taking a list
# (stop CONTAINER...) the last kind repeats; "containers images": either
POSITIONALS = {
    **{verb: ["containers"] for verb in _CONTAINER_VERBS},
    **{verb: ["images"] for verb in ("run", "create", "rmi", "push", "history", "image-inspect", "save")},
    "tag": ["images", "images"],
    "inspect": ["containers images"],
    "network-rm": ["networks"], "network-inspect": ["networks"],
    "network-connect": ["networks", "containers"], "network-disconnect": ["networks", "containers"],
    "volume-rm": ["volumes"], "volume-inspect": ["volumes"],
    "completion": ["shells"],
}
FLAG_VALUES = {"--network": "networks", "--net": "networks", "--volumes-from": "containers"}

# The part that does not depend on the tables. Bash splits the line at COMP_WORDBREAKS (= and :), so
# `--root=/x` and `busybox:latest` arrive in pieces: they are glued back together first, and the
# replies trimmed of what bash already has, as bash-completion's __ltrim_colon_completions does.
SCRIPT = r"""
_hull_names() {  # _hull_names KIND HULL...: the KIND names that HULL (with the line's --root) knows
    local kind=$1
    shift
    case $kind in
        containers) "$@" ps -a --format '{{.Names}}' ;;
        images) "$@" images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' ;;
        networks) "$@" network ls --format '{{.Name}}' ;;
        volumes) "$@" volume ls --format '{{.Name}}' ;;
        shells) echo bash ;;
    esac 2>/dev/null
}

_hull() {
    local words=() glue="" w i
    for ((i = 0; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ -n $glue || ( $w =~ ^[=:]+$ && ${#words[@]} -gt 1 ) ]]; then
            words[-1]+=$w
        else
            words+=("$w")
        fi
        [[ $w =~ ^[=:]+$ ]] && glue=1 || glue=""
    done
    local cword=$((${#words[@]} - 1))
    local cur=${words[cword]} prev=${words[cword - 1]} raw=${COMP_WORDS[COMP_CWORD]}
    local hull=("${words[0]}") group="" verb="" pos=0 lead="" kind="" offer=""
    COMPREPLY=()

    # what is already on the line: global flags, the command (or management command and its
    # subcommand), then how many positionals of the verb (skipping its flags and their values)
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ -n $verb ]]; then
            case $w in
                -*=*) ;;
                -*) [[ " ${_hull_valued[$verb]} " == *" $w "* ]] && i=$((i + 1)) ;;
                *) pos=$((pos + 1)) ;;
            esac
            continue
        fi
        case $w in
            --root=*) hull+=("$w") ;;  # names come from the root the line names
            --root) hull+=(--root "${words[i + 1]/#\~/$HOME}"); i=$((i + 1)) ;;
            -*=*) ;;
            -*) [[ " $_hull_global_valued " == *" $w "* ]] && i=$((i + 1)) ;;
            *)  if [[ -n $group ]]; then
                    verb=${_hull_sub_verb["$group $w"]}
                    [[ -n $verb ]] || return 0  # no such subcommand: nothing to offer
                elif [[ -n ${_hull_subs[$w]} ]]; then
                    group=$w
                else
                    verb=$w
                fi ;;
        esac
    done

    local valued=$_hull_global_valued
    [[ -n $verb ]] && valued=${_hull_valued[$verb]}
    if [[ $cur == --*=* ]]; then  # --network=br
        lead=${cur%%=*}= prev=${cur%%=*} cur=${cur#*=}
    fi
    if [[ -n $lead || ( $prev == -* && " $valued " == *" $prev "* ) ]]; then
        kind=${_hull_flag_values[$prev]}
        [[ -n $kind ]] || return 0  # a value hull cannot guess: bash's default (file names)
    elif [[ -z $verb && -z $group ]]; then
        [[ $cur == -* ]] && offer=$_hull_global_flags || offer=$_hull_commands
    elif [[ -z $verb ]]; then
        [[ $cur == -* ]] && offer=--help || offer=${_hull_subs[$group]}
    elif [[ -n ${_hull_command_after[$verb]} && $pos -ge ${_hull_command_after[$verb]} ]]; then
        return 0  # the container's command (run IMAGE CMD...): bash's default
    elif [[ $cur == -* ]]; then
        offer=${_hull_flags[$verb]}
    else
        local kinds=(${_hull_positionals[$verb]})
        if [[ ${#kinds[@]} -gt 0 ]]; then
            kind=${kinds[pos]}
            [[ -z $kind && ${kinds[-1]} == *... ]] && kind=${kinds[-1]}
            kind=${kind%...}
        fi
    fi
    for w in ${kind//+/ }; do
        offer+=" $(_hull_names "$w" "${hull[@]}")"
    done
    mapfile -t COMPREPLY < <(compgen -P "$lead" -W "$offer" -- "$cur")
    local have=${words[cword]%"$raw"}  # what bash keeps before the word it replaces
    [[ -n $have ]] && COMPREPLY=("${COMPREPLY[@]#"$have"}")
    return 0
}

complete -o default -F _hull hull
"""


def bash_script() -> str:
    from runtime.cli.main import GLOBAL_FLAGS, MANAGEMENT, _tables, hidden, subcommands
    verbs, _ = _tables()

    def flag_words(flags, valued_only=False) -> str:
        words = []
        for f in flags:
            if f.value or not valued_only:
                words += [f"--{f.name}"] + ([f"-{f.short}"] if f.short else [])
        return " ".join(words)

    def assoc(name: str, pairs) -> str:  # -g: bash-completion sources this file inside a function
        return f"declare -gA {name}=(\n" + "".join(f'    ["{k}"]="{v}"\n' for k, v in pairs) + ")"

    def positionals(verb: Verb) -> str:
        kinds = [k.replace(" ", "+") for k in POSITIONALS.get(verb.name, [])]
        if kinds and verb.rest and not verb.command:
            kinds[-1] += "..."
        return " ".join(kinds)

    commands = sorted([n for n in verbs if not hidden(n)] + list(MANAGEMENT))
    tables = [
        "# bash completion for hull, generated by `hull completion bash` from hull's verb tables: do not edit",
        f'_hull_commands="{" ".join(commands)}"',
        f'_hull_global_flags="{flag_words(GLOBAL_FLAGS)}"',
        f'_hull_global_valued="{flag_words(GLOBAL_FLAGS, valued_only=True)}"',
        assoc("_hull_subs", ((g, " ".join(n for n, _ in subcommands(g))) for g in MANAGEMENT)),
        assoc("_hull_sub_verb", ((f"{g} {n}", v) for g in MANAGEMENT for n, v in MANAGEMENT[g].items())),
        assoc("_hull_flags", ((v.name, flag_words(v.flags + [Flag("help")])) for v in verbs.values())),
        assoc("_hull_valued", ((v.name, flag_words(v.flags, valued_only=True)) for v in verbs.values())),
        assoc("_hull_positionals", ((v.name, positionals(v)) for v in verbs.values() if positionals(v))),
        # for run IMAGE CMD..., exec CONTAINER CMD...: how many positionals come before the command
        assoc("_hull_command_after", ((v.name, len(v.args)) for v in verbs.values() if v.command)),
        assoc("_hull_flag_values", FLAG_VALUES.items()),
    ]
    return "\n".join(tables) + "\n" + SCRIPT


def cmd_completion(args) -> int:
    if args.shell != "bash":
        raise InvalidArgument(f"completion: no completion for {args.shell!r} (only bash)")
    sys.stdout.write(bash_script())
    return 0


HANDLERS = {"completion": cmd_completion}
