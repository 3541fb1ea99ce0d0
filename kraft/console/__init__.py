"""kraft's web console: server-rendered pages served by every node on its HTTP port at ``/`` (and
by ``kraft console`` on a port of its own). See ``kraft.console.app`` for the routes."""
