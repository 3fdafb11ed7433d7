"""Wire formats shared by the operator and the workers (DESIGN.md §3).

Names of every exchange, queue and routing key, the control-plane envelope and the WorkItem
envelope. Pure code: no I/O library may be imported here.
"""
