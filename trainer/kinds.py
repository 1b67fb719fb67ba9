"""The kinds of model the trainer trains: `--kind` -> its solver, each in its own module on the
harness in trainer/solver.py. The one table of them (no solver adds itself on import)."""

from __future__ import annotations

from .attributes import AttributeSolver
from .cyclegan import CycleGANSolver
from .solver import Solver
from .stargan import StarGANSolver
from .student import StudentSolver

KINDS: dict[str, type[Solver]] = {
    "attributes": AttributeSolver,  # the classifier: P(female) and age
    "stargan": StarGANSolver,  # one conditional generator, gender or age
    "cyclegan": CycleGANSolver,  # two generators per task, one per direction
    "student": StudentSolver,  # one generator for both sliders, from the teacher's pairs
}
