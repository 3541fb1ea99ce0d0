"""The console's pages: one module per page (or pair), each rendering from ``ConsoleCluster`` values
with ``kraft.console.html`` only; ``actions`` holds what the forms do."""
