"""The WSGI app apache2/mod_wsgi and uWSGI serve in gmr's real-world corpus:
one Python thread parked a few calls deep, so the report has Python frames
to show besides the server's own."""

import threading

_parked = threading.Event()


def _park(depth):
    if depth == 0:
        _parked.wait()
    else:
        _park(depth - 1)


threading.Thread(target=_park, args=(5,), name="corpus-parked", daemon=True).start()


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"corpus ok\n"]
