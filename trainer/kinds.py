"""The kinds of model the trainer trains: `--kind` -> its solver, each in its own module on the
harness in trainer/solver.py. The one table of them (no solver adds itself on import), and which of
`Config`'s options each kind reads.

`Config` stays one flat record: it is what every checkpoint stores and what `--resume` reads back,
so its field names are fixed. OPTIONS says whose each field is (a test holds it to the code)."""

from __future__ import annotations

from .attributes import AttributeSolver
from .cyclegan import CycleGANSolver
from .distil import DistilSolver
from .solver import Solver
from .stargan import StarGANSolver
from .student import StudentSolver

KINDS: dict[str, type[Solver]] = {
    "attributes": AttributeSolver,  # the classifier: P(female) and age
    "stargan": StarGANSolver,  # one conditional generator, gender or age
    "cyclegan": CycleGANSolver,  # two generators per task, one per direction
    "student": StudentSolver,  # one generator for both sliders, from the teacher's pairs
    "distil": DistilSolver,  # a narrower student, from a trained student's edits
}

# The options the harness reads for every kind (resume checks kind, task, arch and d_ch).
HARNESS = ("kind", "data", "task", "arch", "d_ch", "steps", "batch", "lr", "decay_from", "seed", "size",
           "every", "log_every", "mask")
# The options each kind reads beyond the harness's. `extra` is read by none: it stays because
# checkpoints written so far hold it.
OPTIONS: dict[str, tuple[str, ...]] = {
    "attributes": ("robust",),
    "stargan": ("classifier", "age_span", "age_floor", "lambda_adv", "lambda_cls", "lambda_rec", "lambda_change",
                "lambda_id", "lambda_proto", "proto_gain", "proto_centre", "cls_augment"),
    "cyclegan": ("lambda_cyc", "lambda_id", "pool"),
    "student": ("lambda_adv", "lambda_pair", "lambda_alpha", "lambda_changed", "lambda_older", "lambda_fm", "lambda_reach", "tight", "warmup",
                "margin", "real", "lambda_real", "lambda_real_adv", "lambda_real_age", "lambda_real_cyc", "lambda_real_alpha", "lambda_real_sparse", "lambda_real_chroma", "smooth_colour", "real_margin",
                "real_blur", "lambda_real_outline", "real_cyc_face", "real_inside", "real_adv_edited", "lambda_real_edit",
                "real_edit_output", "max_shrink", "keep_hair", "keep_added_hair", "coarse_hair", "keep_hairline", "drop_glasses", "lambda_real_hairline", "lambda_real_jaw", "real_jaw_younger", "lambda_real_tint", "clean_change", "calibrate", "classifier", "age_floor"),
    "distil": ("mimic", "real", "tight", "lambda_pair", "lambda_alpha", "lambda_changed"),  # margin: student.spec
}
