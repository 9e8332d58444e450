"""Entry point: python -m vpnctl_emulator.server --port PORT"""
import argparse
import json
import os
import signal
import sys

from . import CONFIG
from .hooks import HookMissing, check_version, fail, require


def install_all():
    check_version()
    from . import clientvpn, patches

    clientvpn.install()
    patches.install_acm()
    patches.install_nat()


def make_app():
    from moto.moto_server import werkzeug_app

    Dispatcher = require(werkzeug_app, "DomainDispatcherApplication")
    create_backend_app = require(werkzeug_app, "create_backend_app")
    moto_app = Dispatcher(create_backend_app)
    from werkzeug.wrappers import Request, Response

    from . import clientvpn

    def reply(status, payload):
        return Response(json.dumps(payload), status=status, mimetype="application/json")

    def control(request):
        path = request.path
        if path == "/_emulator/health":
            return reply(200, {"status": "ok"})
        if path == "/_emulator/config":
            if request.method == "POST":
                body = request.get_json(force=True, silent=True) or {}
                if "delay_seconds" in body:
                    try:
                        value = float(body["delay_seconds"])
                        if value < 0:
                            raise ValueError
                    except (TypeError, ValueError):
                        return reply(400, {"error": "delay_seconds must be a non-negative number"})
                    CONFIG["delay_seconds"] = value
            return reply(200, {"delay_seconds": CONFIG["delay_seconds"]})
        if path == "/_emulator/reset" and request.method == "POST":
            reset_moto()
            CONFIG["delay_seconds"] = CONFIG["startup_delay_seconds"]
            return reply(200, {"status": "reset", "delay_seconds": CONFIG["delay_seconds"]})
        if path == "/_emulator/connections" and request.method == "POST":
            body = request.get_json(force=True, silent=True)
            if not isinstance(body, dict) or not body.get("client_vpn_endpoint_id"):
                return reply(400, {"error": "client_vpn_endpoint_id is required"})
            try:
                return reply(200, clientvpn.add_connection(body))
            except LookupError as exc:
                return reply(404, {"error": str(exc)})
            except ValueError as exc:
                return reply(400, {"error": str(exc)})
        return reply(404, {"error": f"unknown control path {request.method} {path}"})

    def app(environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_emulator/"):
            return control(Request(environ))(environ, start_response)
        return moto_app(environ, start_response)

    return app


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
        CONFIG["delay_seconds"] = CONFIG["startup_delay_seconds"] = float(
            os.environ.get("EMULATOR_DELAY_SECONDS", "0") or 0
        )
    except ValueError:
        fail(ValueError(f"EMULATOR_DELAY_SECONDS must be a number, got {os.environ['EMULATOR_DELAY_SECONDS']!r}"))
    try:
        install_all()
        app = make_app()
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server
    except (HookMissing, ImportError, AttributeError) as exc:
        fail(exc)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"emulator ready on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
