"""The ``glidepath`` command-line client: run the stack, simulate, compare, manage models.

Each module holds one idea: ``main`` parses the command line and turns failures into one
clear line and an exit code; ``peers`` says where each service listens; ``stack`` starts the
three services as local processes; ``models``, ``simulate`` are the commands; ``render``,
``plot`` and ``progress`` are how results look to people.
"""
