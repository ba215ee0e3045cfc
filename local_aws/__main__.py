"""`python -m local_aws`: serve the local AWS stack in the foreground until interrupted."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

from local_aws.iam_enforcement import ENV_FLAG, enabled_from_env
from local_aws.server import DEFAULT_PORT, LocalAWS


def main() -> None:
    parser = argparse.ArgumentParser(description="Local AWS stack: S3, Glue, Athena, CloudWatch Logs, IAM, STS.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", DEFAULT_PORT)))
    parser.add_argument("--state-dir", default=os.environ.get("LOCAL_AWS_STATE", ".local/aws"),
                        help="where state is kept across restarts ('' keeps it in memory only)")
    parser.add_argument("--enforce-iam", action="store_true", default=enabled_from_env(),
                        help=f"authorise every request against IAM policies (or {ENV_FLAG}=1); off by default")
    parser.add_argument("--no-warm-up", dest="warm_athena", action="store_false",
                        help="load the Athena engine on the first query instead of in the background at start")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stack = LocalAWS(port=args.port, state_dir=args.state_dir or None, host=args.host,
                     enforce_iam=args.enforce_iam, warm_athena=args.warm_athena).start()
    print(f"Local AWS stack ready on {stack.endpoint}", flush=True)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    stack.stop()


if __name__ == "__main__":
    main()
