"""Export: a run's checkpoint -> ONNX (fp32, and static int8 QDQ calibrated on real validation
crops), both checked against torch on other validation crops and timed on this CPU; the faster one
ships as `NAME.onnx` beside its model card `NAME.json`, which is what the runtime reads."""

from __future__ import annotations

import logging
import os
import platform
import shutil
import statistics
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mirror.errors import MirrorError
from mirror.contract import EFFECTS, NORMALISATION, TASK_IO, TASK_STAMP, card_shapes, write_card

from . import checkpoint
from .cyclegan import domain_gap
from .data import FaceSet, describe, fit_size, read_labels, to_unit
from .models import describe as describe_arch
from .kinds import KINDS
from .solver import Config, config_of

OPSET = 17
# Static int8 of these generators errs by ~1-10 pixels on average (8-bit activations through ~25
# layers, 7-bit weights); past this mean error the faster int8 is not worth what it shows.
INT8_TOLERANCE = 3.0
SLIDER = (-1.0, -0.5, 0.0, 0.5, 1.0)
LICENSES = {
    "UTKFace": "UTKFace is non-commercial research only; this model inherits those terms",
    "CelebA": "CelebA is non-commercial research only; this model inherits those terms",
}


def load_run(run: Path) -> tuple[Config, dict]:
    """The run's config and checkpoint state."""
    state = checkpoint.load(Path(run) / "checkpoint.pt")
    return config_of(state), state


def deployable(cfg: Config, state: dict, path: Path) -> torch.nn.Module:
    """The inference module of a run, with the checkpoint's weights, in eval mode."""
    module, nets = KINDS[cfg.kind].deployable(cfg)
    for name, net in nets.items():
        checkpoint.restore(net, state["nets"][name], name, path)
    return module.eval()


def weights(cfg: Config, state: dict, path: Path) -> None:
    """The fp32 weights of the networks the model runs (not the discriminators or optimisers): a few
    hundred kB, enough to fine-tune it (`mirror-train train --init NAME.pt`) on another machine."""
    _, nets = KINDS[cfg.kind].deployable(cfg)
    torch.save({"config": asdict(cfg), "step": state["step"], "nets": {k: state["nets"][k] for k in nets}}, path)


def task_of(cfg: Config) -> str:
    return {"attributes": "attributes", "student": "edit", "distil": "edit"}.get(cfg.kind, cfg.task)


# The edit model's calibration and parity conditions, in turn: each gender alone, age both ways,
# and both at once; (target P(female), gender asked, age shift).
EDITS = np.array([[1, 1, 0], [0, 1, 0], [0.5, 0, 1], [0.5, 0, -1], [1, 1, 0.5], [0, 1, -0.5]], np.float32)


def conditions(task: str, female: np.ndarray) -> np.ndarray | None:
    """A condition per face, as the runtime would give it: gender, to the other gender (unknown:
    to female); age, the slider positions in turn. None for the classifier."""
    if task == "attributes":
        return None
    if task == "edit":
        return np.resize(EDITS, (len(female), EDITS.shape[1]))
    if task == "gender":
        c = np.where(female == 1, 0.0, 1.0)
    else:
        c = np.resize(np.array(SLIDER), len(female))
    return c.astype(np.float32)[:, None]


def feeds(task: str, val: FaceSet, idx: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """ONNX inputs for the validation faces `idx`: crops at the model's size, and conditions."""
    f = {"image": fit_size(to_unit(val.crops[idx]), size).numpy()}
    c = conditions(task, val.female[idx])
    if c is not None:
        f["condition"] = c
    return f


def names(task: str) -> tuple[list[str], list[str]]:
    """The graph's input and output names, as the contract has them."""
    inputs, outputs = TASK_IO[task]
    return list(inputs), list(outputs)


def to_onnx(module: torch.nn.Module, example: dict[str, np.ndarray], task: str, path: Path) -> None:
    inputs, outputs = names(task)
    args = tuple(torch.from_numpy(example[k][:1]) for k in inputs)
    # The exporter warns that InstanceNorm always uses the input's statistics: it does, by design.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes={k: {0: "batch"} for k in inputs + outputs}, opset_version=OPSET,
                          dynamo=False, external_data=False, do_constant_folding=True)


def stamp(path: Path, task: str) -> None:
    """Writes the task into the graph's metadata, where the runtime checks it against the card: a
    gender graph saved under an age model's name is refused there."""
    import onnx

    model = onnx.load(str(path))
    entry = next((p for p in model.metadata_props if p.key == TASK_STAMP), None) or model.metadata_props.add()
    entry.key, entry.value = TASK_STAMP, task
    part = path.with_name(f".{path.name}.stamping")
    onnx.save(model, str(part))
    os.replace(part, path)  # a shipped graph is never left half written


class Calibration:
    """onnxruntime's CalibrationDataReader over validation crops, a few at a time."""

    def __init__(self, data: dict[str, np.ndarray], batch: int = 8):
        n = len(data["image"])
        self.parts = [{k: v[i:i + batch] for k, v in data.items()} for i in range(0, n, batch)]
        self.it = iter(self.parts)

    def get_next(self):
        return next(self.it, None)

    def rewind(self):
        self.it = iter(self.parts)


def quantize(fp32: Path, out: Path, calib: dict[str, np.ndarray], per_channel: bool) -> None:
    """Static int8, QDQ format. reduce_range keeps weights to 7 bits, which avoids the overflow of
    int8 multiply-accumulate on CPUs without VNNI. Dynamic quantization is 4-8x slower here."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    CalibrationDataReader.register(Calibration)
    prepped = out.with_suffix(".pre.onnx")
    # Symbolic shape inference stops at the upsampling Resize; ONNX's own shape inference suffices.
    quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
    # The quantizer logs a warning per 1-D weight (normalisation scales) it leaves per-tensor.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_static(str(prepped), str(out), Calibration(calib), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, reduce_range=True)
    finally:
        root.setLevel(level)
    prepped.unlink()


def session(path: Path, threads: int = 0):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_onnx(sess, data: dict[str, np.ndarray]) -> list[np.ndarray]:
    return sess.run(None, {i.name: data[i.name] for i in sess.get_inputs()})


def reference(module: torch.nn.Module, task: str, data: dict[str, np.ndarray]) -> list[np.ndarray]:
    inputs, _ = names(task)
    with torch.no_grad():
        out = module(*(torch.from_numpy(data[k]) for k in inputs))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def errors(task: str, got: list[np.ndarray], want: list[np.ndarray]) -> dict:
    """Max and mean absolute error: images in pixel units (0-255); the classifier's P(female) in
    probability and its age in years."""
    def stats(a, b, scale):
        d = np.abs(a - b) * scale
        return {"max_abs": round(float(d.max()), 4), "mean_abs": round(float(d.mean()), 4)}

    if task == "attributes":
        return {"female": stats(got[0], want[0], 1.0), "age_years": stats(got[1], want[1], 1.0)}
    return stats(got[0], want[0], 127.5)


def score(task: str, err: dict) -> float:
    """The one number int8 is judged by: mean pixel error, or the classifier's mean age error."""
    return err["mean_abs"] if task != "attributes" else err["age_years"]["mean_abs"]


def latency(path: Path, one: dict[str, np.ndarray], threads: int, runs: int) -> tuple[float, float]:
    """Median milliseconds of one face (batch 1) with `threads` intra-op threads: wall clock, and
    this process's CPU time, which other programs on a busy machine hardly disturb (with one
    thread, the wall clock of an idle machine)."""
    sess = session(path, threads)
    for _ in range(3):
        run_onnx(sess, one)
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        run_onnx(sess, one)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return round(statistics.median(wall), 3), round(statistics.median(cpu), 3)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# Card fields an export may set to shape an edit model's gender edits (mirror.contract.Card).
SHAPING = ("male_reach", "female_reach", "male_gain", "female_gain")


def export(run: Path, out: Path, data: Path | None = None, calibration: int = 64, parity: int = 32,
           runs: int = 50, int8_tolerance: float = INT8_TOLERANCE, serves: tuple[str, ...] = EFFECTS,
           smooth_colour: float | None = None, shaping: dict[str, float] | None = None) -> dict:
    """Exports the run to `out`.onnx and `out`.json; returns the card. int8 ships when it is the
    faster and its mean error against torch stays within `int8_tolerance` (pixels; for the
    classifier, years of age). An edit model serves the sliders in `serves`: one of them alone
    leaves the other to its own model beside it, and may blur its change's colour by
    `smooth_colour` pixels (models.SmoothColour; default: as the run trained). `shaping` gives
    the card fields that shape its gender edits in the runtime (SHAPING: hold "to male" / "to
    female" to the face grown by that much of the crop, scale its change; blend.as_carded)."""
    run, out = Path(run), Path(out)
    cfg, state = load_run(run)
    task = task_of(cfg)
    if tuple(serves) != EFFECTS and task != "edit":
        raise MirrorError(f"--serves chooses the sliders of an edit model (a student run); {run} trains {task}")
    if smooth_colour is not None:
        if task != "edit":
            raise MirrorError(f"--smooth-colour blurs an edit model's colour change (a student run); {run} trains {task}")
        cfg = replace(cfg, smooth_colour=smooth_colour)
    shaping = shaping or {}
    for key in shaping:
        if key not in SHAPING:
            raise ValueError(f"not a card field that shapes a gender edit: {key}")
        if task != "edit":
            raise MirrorError(f"--{key.replace('_', '-')} shapes an edit model's gender edits (a student run); "
                              f"{run} trains {task}")
    module = deployable(cfg, state, run / "checkpoint.pt")
    if task == "edit" and data is None:
        raise MirrorError("a student exports with --data: a prepared cache of real faces at its crop margin "
                          "(mirror-train prepare ... --size 160 --margin 0.3), to calibrate int8 on camera-like faces")
    cache = Path(data or cfg.data)
    val = FaceSet(cache, "val")
    size = cfg.size or val.spec.size
    if task == "edit" and val.spec.margin != student_spec(cfg).margin:
        raise MirrorError(f"{cache}: crops of margin {val.spec.margin}, but the student sees margin "
                          f"{student_spec(cfg).margin}: prepare a cache at its margin (the size may differ)")
    # Calibration and parity crops are disjoint where the split allows it.
    n = len(val)
    calib_idx = np.arange(min(calibration, n))
    check_idx = np.arange(max(0, n - parity), n)
    calib, check = feeds(task, val, calib_idx, size), feeds(task, val, check_idx, size)

    work = out.parent / f".{out.name}.export"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        variants = {"fp32": work / "fp32.onnx"}
        steps = tqdm(total=5, desc="export", unit="stage")
        to_onnx(module, check, task, variants["fp32"])
        steps.update()
        want = reference(module, task, check)
        report = {"fp32": errors(task, run_onnx(session(variants["fp32"]), check), want)}
        # Per-channel weight scales help some nets and not others: keep whichever is closer.
        best = None
        for per_channel in (False, True):
            path = work / f"int8{'-pc' if per_channel else ''}.onnx"
            quantize(variants["fp32"], path, calib, per_channel)
            err = errors(task, run_onnx(session(path), check), want)
            if best is None or score(task, err) < best[0]:
                best = (score(task, err), path, per_channel, err)
            steps.update()
        _, variants["int8"], per_channel, report["int8"] = best
        one = {k: v[:1] for k, v in check.items()}
        measured = {(fmt, t): latency(p, one, t, runs) for fmt, p in variants.items() for t in (1, 2)}
        times = {fmt: {str(t): measured[fmt, t][0] for t in (1, 2)} for fmt in variants}
        cpu = {fmt: {str(t): measured[fmt, t][1] for t in (1, 2)} for fmt in variants}
        steps.update(2)
        steps.close()
        fastest = min(times, key=lambda fmt: min(times[fmt].values()))
        accurate = score(task, report["int8"]) <= int8_tolerance
        shipped = fastest if accurate else "fp32"
        card = model_card(out.name, cfg, state, task, cache, size, val.spec.margin, shipped, serves)
        if cfg.smooth_colour:
            card["smooth_colour_px"] = cfg.smooth_colour  # the .pt's config says it too: a fine-tune trains with it
        card.update(shaping)
        if task == "edit":
            card["calibration_data"] = describe(cache)
        card["parity"] = {"against": "torch fp32", "unit": "pixels (0-255)" if task != "attributes" else
                          "female: probability, age: years", "crops": len(check_idx),
                          "calibration_crops": len(calib_idx), "disjoint": bool(calib_idx[-1] < check_idx[0]),
                          "int8_per_channel": per_channel, "int8_tolerance": int8_tolerance,
                          "int8_accurate": accurate, **report}
        card["latency_ms"] = {"batch": 1, "runs": runs, "statistic": "median", "cpu": cpu_name(),
                              "load_average": round(os.getloadavg()[0], 2),  # > 0 means others were busy
                              "threads": "intra-op threads", **times, "cpu_time": cpu, "shipped": shipped}
        out.parent.mkdir(parents=True, exist_ok=True)
        stamp(variants[shipped], task)
        weights(cfg, state, work / "weights.pt")
        os.replace(variants[shipped], out.with_suffix(".onnx"))
        os.replace(work / "weights.pt", out.with_suffix(".pt"))
        write_card(out.with_suffix(".json"), card)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return card


def model_card(name: str, cfg: Config, state: dict, task: str, cache: Path, size: int, margin: float,
               shipped: str, serves: tuple[str, ...] = EFFECTS) -> dict:
    inputs, outputs = card_shapes(task, size)
    card = {"name": name, "task": task, "architecture": architecture(cfg), "objective": objective(cfg),
            "format": "onnx-int8-qdq" if shipped == "int8" else "onnx-fp32",
            # A model trained below the cache's size sees the same crop, only smaller: the runtime
            # crops at the model's own size with the same margin.
            "align": {"size": size, "margin": margin},
            "normalisation": dict(NORMALISATION), "inputs": inputs, "outputs": outputs}
    if task == "edit":
        card["paste"] = "alpha"
        card["serves"] = list(serves)
        card["conditions"] = {"condition": "(target P(female): 1 = to female, 0 = to male; gender asked: 1 or 0, "
                                           "then the target is 0.5; age shift a in [-1,1], 0 unchanged)"}
    elif task != "attributes":
        card["conditions"] = {"condition": "gender: 1 = to female, 0 = to male" if task == "gender"
                              else "age: slider a in [-1,1], 0 unchanged"}
    if task == "edit":
        from .synthesize import folder_settings

        card["age_span_years"] = folder_settings(Path(cfg.data))["age_span"]
    if task == "age":
        if cfg.kind == "cyclegan":
            ages = np.array([float(r["age"]) for r in read_labels(cache) if r["split"] == "train"], np.float32)
            card["age_span_years"] = round(domain_gap(ages), 1)
        else:
            card["age_span_years"] = cfg.age_span
    dataset = describe(cache) if task != "edit" else teacher_pairs(cfg)
    card["training"] = {"kind": cfg.kind, "steps": state["step"], "batch": cfg.batch,
                        "train_time_s": round(state.get("time", 0.0), 1), "config": asdict(cfg), "data": dataset}
    card["metrics"] = {}
    card["license"] = LICENSES.get(dataset.split(",")[0], "trained on the user's own data: check its terms")
    if task == "edit":
        from .teacher import LICENSE

        card["license"] = f"trained on {LICENSE}; this model inherits those terms"
        if cfg.real:  # its real faces bring their own terms
            real = describe(Path(cfg.real))
            card["training"]["data"] += f"; real faces: {real}"
            card["license"] += "; " + LICENSES.get(real.split(",")[0], "and on the user's own faces: check their terms")
    return card


def student_spec(cfg: Config):
    from .student import spec

    return spec(cfg)


def teacher_pairs(cfg: Config) -> str:
    """What a student learned from, for its card: e.g. "teacher pairs, 2400 identities, 4100 kept edits"."""
    from .synthesize import folder_settings, summary

    s = summary(Path(cfg.data))
    return f"teacher pairs, {s['with_face']} identities, {s['pairs_kept']} kept edits, truncation {folder_settings(Path(cfg.data))['truncation']}"


def architecture(cfg: Config) -> str:
    if cfg.kind == "attributes":
        return "VGG-style attribute classifier (32ch, 5 stages, 64 px inside): P(female) and age in years"
    if cfg.kind == "stargan":
        return f"StarGAN-style conditional generator, {describe_arch(cfg.arch)}"
    if cfg.kind == "student":
        return f"student distilled from a StyleGAN teacher's pairs, {describe_arch(cfg.arch)}"
    if cfg.kind == "distil":
        wide = Path(cfg.mimic)
        return (f"student distilled from a wider student ({wide.parent.name if wide.name == 'checkpoint.pt' else wide.name}), "
                f"{describe_arch(cfg.arch)}")
    return (f"CycleGAN, two {describe_arch(cfg.arch)} generators; both run and the condition picks "
            f"(gender) or blends with the input (age) per face")


def objective(cfg: Config) -> str:
    """What the training losses asked of the model, in words (the numbers are in the config)."""
    if cfg.kind == "attributes":
        return "cross-entropy on the gender labels, smooth L1 on the age labels"
    if cfg.kind == "cyclegan":
        return "CycleGAN: LSGAN PatchGAN per domain, cycle and identity L1, image pool"
    if cfg.kind == "distil":
        return (f"the wider student's {cfg.task} edits (image L1 at three scales, alpha L1) on real faces and "
                "the teacher's renders, from its strongest channels")
    if cfg.kind == "student":
        return ("the teacher's pairs (source -> edit inside both renders' person masks, and back): L1 at three "
                "scales" + (", conditional LSGAN PatchGAN" if cfg.lambda_adv else "") + ", alpha held at 0 where nothing changes")
    parts = []
    if cfg.lambda_adv:
        parts.append("LSGAN PatchGAN")
    if cfg.lambda_cls:
        parts.append("the frozen attribute classifier and the discriminator's domain head")
    if cfg.task == "age" and cfg.lambda_proto:
        parts.append(f"the change between age prototypes (mean faces of the same gender and ethnicity "
                     f"at the source and target age, 32 px, x{cfg.proto_gain:g})")
    parts.append("reconstruction L1 (the opposite condition leads back)")
    if cfg.task == "age":
        parts.append("identity at condition 0")
    return "; ".join(parts)
