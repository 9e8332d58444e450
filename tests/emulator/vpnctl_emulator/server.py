"""Entry point: python -m vpnctl_emulator.server --port PORT"""
import argparse
import json
import os
import signal
import sys

from . import control
from .hooks import HookMissing, check_version, fail, require


def install_all():
    check_version()
    from . import clientvpn, patches, scheduler

    control.install()
    clientvpn.install()
    scheduler.install()
    patches.install_acm()
    patches.install_nat()
    patches.install_tags()
    patches.install_sfn()
    patches.install_kms()


def make_app():
    from moto.moto_server import werkzeug_app

    Dispatcher = require(werkzeug_app, "DomainDispatcherApplication")
    create_backend_app = require(werkzeug_app, "create_backend_app")
    moto_app = Dispatcher(create_backend_app)
    from werkzeug.wrappers import Request, Response

    from . import clientvpn, scheduler

    def reply(status, payload):
        return Response(json.dumps(payload), status=status, mimetype="application/json")

    def body_of(request):
        return request.get_json(force=True, silent=True)

    def control_api(request):
        route = (request.method, request.path)
        try:
            if route == ("GET", "/_emulator/health"):
                return reply(200, {"status": "ok"})
            if route == ("GET", "/_emulator/config"):
                return reply(200, control.config())
            if route == ("POST", "/_emulator/config"):
                body = body_of(request)
                return reply(200, control.update_config({} if body is None else body))
            if route == ("POST", "/_emulator/reset"):
                with scheduler.LOCK:  # not in the middle of a scheduler run
                    reset_moto()
                    control.reset()
                    scheduler.reset()
                return reply(200, {"status": "reset", **control.config()})
            if route == ("GET", "/_emulator/faults"):
                return reply(200, control.faults())
            if route == ("POST", "/_emulator/faults"):
                return reply(200, control.add_fault(body_of(request)))
            if route == ("DELETE", "/_emulator/faults"):
                control.clear_faults()
                return reply(200, control.faults())
            if route == ("GET", "/_emulator/calls"):
                return reply(200, control.calls())
            if route == ("GET", "/_emulator/actions"):
                return reply(200, control.actions())
            if route == ("DELETE", "/_emulator/calls"):
                control.clear_calls()
                return reply(200, control.calls())
            if route == ("POST", "/_emulator/scheduler/run"):
                return reply(200, scheduler.run_request(body_of(request)))
            if route == ("GET", "/_emulator/scheduler/invocations"):
                return reply(200, scheduler.invocations())
            if route == ("POST", "/_emulator/connections"):
                body = body_of(request)
                if not isinstance(body, dict) or not body.get("client_vpn_endpoint_id"):
                    return reply(400, {"error": "client_vpn_endpoint_id is required"})
                try:
                    return reply(200, clientvpn.add_connection(body))
                except LookupError as exc:
                    return reply(404, {"error": str(exc)})
        except ValueError as exc:
            return reply(400, {"error": str(exc)})
        return reply(404, {"error": f"unknown control path {request.method} {request.path}"})

    from . import s3

    s3_app = s3.wrap(moto_app)

    def app(environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_emulator/"):
            return control_api(Request(environ))(environ, start_response)
        return s3_app(environ, start_response)

    return app


def clocked(handler):
    """The request handler with its `Date` header moved by the config's clock_offset_seconds
    (AWS's clock as a client whose own clock is off sees it; `vpnctl doctor` checks the skew)."""
    import email.utils
    import time as _time

    require(handler, "date_time_string")

    class Clocked(handler):
        def date_time_string(self, timestamp=None):
            now = _time.time() if timestamp is None else timestamp
            return email.utils.formatdate(now + control.clock_offset(), usegmt=True)

    return Clocked


def reset_moto():
    from moto.moto_api import _internal

    backend = require(_internal, "moto_api_backend")
    require(backend, "reset")
    backend.reset()


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    try:
        control.set_startup_delay(control.seconds(
            "EMULATOR_DELAY_SECONDS", os.environ.get("EMULATOR_DELAY_SECONDS", "0") or 0
        ))
    except ValueError:
        fail(ValueError(
            f"EMULATOR_DELAY_SECONDS must be a non-negative number, got {os.environ['EMULATOR_DELAY_SECONDS']!r}"
        ))
    try:
        control.set_startup_realtime(control.flag(
            "EMULATOR_SCHEDULER_REALTIME", os.environ.get("EMULATOR_SCHEDULER_REALTIME", "1") or "1"
        ))
    except ValueError as exc:
        fail(ValueError(f"{exc}, got {os.environ['EMULATOR_SCHEDULER_REALTIME']!r}"))
    try:
        install_all()
        app = make_app()
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server
    except (HookMissing, ImportError, AttributeError) as exc:
        fail(exc)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=clocked(MotoRequestHandler))
    # Step Functions runs its state machines (moto's ASL interpreter), and their AWS SDK tasks
    # call this emulator's own services.
    os.environ["MOTO_PORT"] = str(server.server_port)
    from moto.core.config import default_user_config

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    from . import scheduler

    scheduler.start(f"http://{args.host}:{server.server_port}")
    print(f"emulator ready on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
