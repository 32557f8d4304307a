"""nftables through its own library (libnftables.so.1): the same command language as `nft`, with
no process per rule. Errors come back as OSError naming the command."""
import ctypes
import time

from runtime import trace

_lib = None


def _libnft():
    global _lib
    if _lib is None:
        lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error", "nft_ctx_free"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
            getattr(lib, name).restype = ctypes.c_char_p
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        _lib = lib
    return _lib


NFT_CTX_OUTPUT_HANDLE = 1 << 3
NFT_CTX_OUTPUT_JSON = 1 << 4


def run(commands: str, json_output: bool = False) -> str:
    """Run nft commands (one batch: all or nothing); returns nft's output."""
    lib = _libnft()
    ctx = lib.nft_ctx_new(0)
    try:
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        if json_output:
            lib.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE)
        started = time.perf_counter()
        rc = lib.nft_run_cmd_from_buffer(ctx, commands.encode())
        if trace.enabled and not commands.lstrip().startswith("list"):  # changes, not reads
            trace.emit("nft " + "; ".join(c.strip() for c in commands.strip().splitlines() if c.strip())[:400],
                       "ok" if rc == 0 else "refused", started, kind="nft")
        out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
        if rc != 0:
            err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode().strip()
            raise OSError(22, f"nft: {err or 'refused'} (in: {commands.strip()[:200]})")
        return out
    finally:
        lib.nft_ctx_free(ctx)
