"""OR-Tools in the loop: vehicle routing (`routing`) and allocation (`allocation`).

Pure functions and small result types on plain data: the model's policies and the planner's
`twin plan` commands both call them, and nothing here imports `simpy` or `twin.model`.
"""
