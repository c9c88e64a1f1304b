"""Run the Amazon ML emulator until SIGINT or SIGTERM: ``amazon-ml-emulator --port 5050``."""

from __future__ import annotations

import argparse
import shlex
import signal
import threading
from collections.abc import Sequence

from amazon_ml_emulator.controls import MISSING_DEPENDENCY_MODES
from amazon_ml_emulator.server import Emulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="amazon-ml-emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument(
        "--advertised-host",
        help="host named in the URLs it hands out (endpoints, LogUri, EndpointUrl) when clients reach it by "
        "another name, e.g. with --host 0.0.0.0 in a container; default: --host, or 127.0.0.1 for 0.0.0.0",
    )
    parser.add_argument("--port", type=int, default=0, help="Amazon ML port; 0 picks a free one")
    s3 = parser.add_mutually_exclusive_group()
    s3.add_argument("--s3-port", type=int, default=0, help="port of the moto S3 server it starts")
    s3.add_argument("--s3-endpoint-url", help="use this S3 endpoint instead of starting one")
    parser.add_argument("--log-port", type=int, default=0, help="port of the HTTPS server of job logs")
    parser.add_argument("--region-name", default="us-east-1")
    parser.add_argument("--job-duration", type=float, default=1.0, help="least seconds INPROGRESS")
    parser.add_argument("--pending-duration", type=float, default=0.2, help="least seconds PENDING")
    parser.add_argument("--concurrency-limit", type=int, default=25, help="most jobs INPROGRESS at once")
    parser.add_argument("--time-scale", type=float, default=1.0, help="emulated seconds per real second")
    for option, kind in (
        ("--redshift-cluster", "ClusterIdentifier"),
        ("--rds-instance", "InstanceIdentifier"),
    ):
        parser.add_argument(
            option,
            action="append",
            default=[],
            type=_database_address,
            metavar="ID=HOST:PORT",
            help=f"the database server standing in for the {kind} ID; repeat for more",
        )
    parser.add_argument("--missing-dependency", choices=MISSING_DEPENDENCY_MODES, default="reject")
    parser.add_argument(
        "--connection-env",
        action="store_true",
        help="also print an AIRFLOW_CONN_AWS_DEFAULT='...' line, quoted for the shell, to paste after 'export'",
    )
    return parser.parse_args(argv)


def _database_address(text: str) -> tuple[str, str]:
    identifier, _, address = text.partition("=")
    if not identifier or not address:
        raise argparse.ArgumentTypeError(f"{text!r}: must be ID=HOST:PORT")
    return identifier, address


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    emulator = Emulator(
        port=args.port,
        s3_endpoint_url=args.s3_endpoint_url,
        job_duration=args.job_duration,
        pending_duration=args.pending_duration,
        concurrency_limit=args.concurrency_limit,
        host=args.host,
        s3_port=args.s3_port,
        region_name=args.region_name,
        advertised_host=args.advertised_host,
        log_port=args.log_port,
        redshift_clusters=dict(args.redshift_cluster),
        rds_instances=dict(args.rds_instance),
        time_scale=args.time_scale,
        missing_dependency=args.missing_dependency,
    )
    with emulator:
        print(f"Amazon ML emulator: {emulator.endpoint_url} (S3: {emulator.s3_endpoint_url})", flush=True)
        if args.connection_env:
            print(f"AIRFLOW_CONN_AWS_DEFAULT={shlex.quote(emulator.connection_json())}", flush=True)
        while not stopping.wait(0.5):
            pass
    print("Amazon ML emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
