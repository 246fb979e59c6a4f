"""The application: the commands (run, init, status, demo) as functions over a Config, the cycle
of one center and the runner of many. The command line, `serve`, the demo and the tests call
these; they reach adapters only through automation/wiring.py and the ports."""
