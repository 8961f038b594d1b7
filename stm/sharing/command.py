"""``stm share serve | recipient add|list|remove``: the provider's local Delta Sharing endpoint and its recipients."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from stm.config import Config, load_config
from stm.engine import require_lake_root, require_writable
from stm.errors import UsageError
from stm.sharing.recipients import DEFAULT_ENDPOINT, DEFAULT_PORT, RecipientStore

log = logging.getLogger(__name__)

HELP = """\
serve                       serve the shares of conf/shares.yml for the lake at --lake-root (loopback by default)
recipient add NAME --share S [--share S2] [--endpoint URL]
                            create a recipient with a fresh token; writes DIR/_sharing/recipients/NAME.share (0600)
recipient list              recipients and their shares (never tokens)
recipient remove NAME       revoke a recipient: its token stops working at once"""


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "share",
        parents=[parent],
        help="serve shares over the Delta Sharing protocol; manage recipients",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["serve", "recipient"])
    p.add_argument("verb", nargs="?", choices=["add", "list", "remove"], help="recipient: add, list or remove")
    p.add_argument("name", nargs="?", help="recipient name (add, remove)")
    p.add_argument("--share", action="append", default=[], help="add: a share the recipient may read (repeatable)")
    p.add_argument(
        "--endpoint",
        default=None,
        help=f"add: the endpoint URL in the profile (default {DEFAULT_ENDPOINT}); serve: the public URL its file "
        "links start with (default http://HOST:PORT/delta-sharing; never taken from a request)",
    )
    p.add_argument("--host", default="127.0.0.1", help="serve: address to bind (default loopback only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"serve: port (default {DEFAULT_PORT})")
    p.set_defaults(func=run)


def _lake_root(args: argparse.Namespace) -> Path:
    if args.lake_root is None:
        raise UsageError("--lake-root (or STM_LAKE_ROOT) is required: the provider lake to share")
    return require_lake_root(args.lake_root)


def run(args: argparse.Namespace) -> int:
    """Run one ``stm share`` action."""
    cfg = load_config(args.config)
    root = _lake_root(args)
    if args.action == "serve":
        if args.verb or args.name:
            raise UsageError("stm share serve takes no positional arguments")
        return serve(cfg, root, args.host, args.port, args.endpoint)
    store = RecipientStore(root)
    if args.verb is None:
        raise UsageError("stm share recipient: give add, list or remove")
    if args.verb == "list":
        for r in store.all():
            print(f"{r.name}\tshares={','.join(r.shares)}\tcreated={r.created_at}")
        return 0
    if not args.name:
        raise UsageError(f"stm share recipient {args.verb}: the recipient NAME is required")
    require_writable(store.dir, "--lake-root")  # checked before a token or profile exists
    if args.verb == "remove":
        store.remove(args.name)
        print(f"removed recipient {args.name}")
        return 0
    return add_recipient(cfg, store, args.name, args.share, args.endpoint)


def add_recipient(cfg: Config, store: RecipientStore, name: str, shares: list[str], endpoint: str | None) -> int:
    if not shares:
        raise UsageError("stm share recipient add: --share SHARE is required")
    for share in shares:
        if share not in cfg.shares:
            raise UsageError(f"no share {share!r}; declared in conf/shares.yml: {', '.join(sorted(cfg.shares))}")
    url = endpoint or DEFAULT_ENDPOINT
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--endpoint: got {url!r}, expected http(s)://host:port/delta-sharing")
    _recipient, profile = store.add(name, shares, url)
    print(f"recipient {name} can read {', '.join(shares)}; profile written to {profile} (owner-only; keep it secret)")
    return 0


def serve(cfg: Config, root: Path, host: str, port: int, endpoint: str | None = None) -> int:
    """Serve until interrupted."""
    import uvicorn

    from stm.sharing.server import create_app

    if not root.is_dir():
        raise UsageError(f"--lake-root: {str(root)!r} is not a directory")
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding to %s: reachable beyond this machine (plain HTTP); give --endpoint, its public URL", host)
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"--endpoint: got {endpoint!r}, expected http(s)://host:port/delta-sharing")
    if not 0 < port < 65536:
        raise UsageError(f"--port: got {port}, allowed: 1 to 65535")
    bound = f"[{host}]" if ":" in host else host
    app = create_app(root, cfg, RecipientStore(root), endpoint=endpoint or f"http://{bound}:{port}/delta-sharing")
    log.info("serving shares %s of %s on http://%s:%d/delta-sharing", ", ".join(cfg.shares), root, host, port)
    # uvicorn's access log prints query strings; our RequestLog middleware logs each request without them
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")
    return 0
