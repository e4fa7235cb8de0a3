"""Run the local Jira site: python -m devsite --host 127.0.0.1 --port 2990 [--base-path /jira]."""

import argparse
import logging
import sys

from werkzeug.serving import make_server

from .app import create_site
from .lifecycle import is_loopback_host

log = logging.getLogger("devsite")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m devsite", description="The local Jira Cloud site for development and tests.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2990, help="TCP port (default 2990)")
    parser.add_argument("--base-path", default="", help="path prefix of the site, e.g. /jira (default none)")
    args = parser.parse_args(argv)

    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not is_loopback_host(args.host):
        # The control API has no authentication, so the site must not be reachable from elsewhere.
        parser.error(f"--host {args.host} is not a loopback address; use 127.0.0.1 or localhost")
    base_path = "/" + args.base_path.strip("/") if args.base_path.strip("/") else ""
    base_url = f"http://{args.host}:{args.port}{base_path}"

    app = create_site(base_url)
    server = make_server(args.host, args.port, app, threaded=True)
    log.info("Local Jira site listening at %s", base_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        log.info("Local Jira site stopped")


if __name__ == "__main__":
    main()
