"""What the tests share: helpers (runs, jobs, CLI calls, the AppTest sign-in), fixtures registered for every test by
tests/conftest.py, and the harness that serves the dashboard to Chromium and to the load benchmark's WebSocket client
(stserver, stclient)."""
