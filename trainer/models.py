"""Networks: one generator family (classic ResNet down to a small depthwise real-time net),
the PatchGAN discriminator (with StarGAN's domain head), and the attribute classifier."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def norm(ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch, affine=True)


class Block(nn.Module):
    """Residual block: two 3x3 convolutions (classic), or depthwise 3x3 + pointwise 1x1 pairs
    (about a ninth of the multiply-adds, what makes a real-time generator on a CPU)."""

    def __init__(self, ch: int, depthwise: bool):
        super().__init__()

        def conv():
            if depthwise:
                return nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1, groups=ch, bias=False), nn.Conv2d(ch, ch, 1, bias=False))
            return nn.Conv2d(ch, ch, 3, 1, 1, bias=False)

        self.body = nn.Sequential(conv(), norm(ch), nn.ReLU(inplace=True), conv(), norm(ch))

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    """Encoder (7x7 conv, two stride-2 downsamplings), `blocks` residual blocks, decoder.

    `cond` > 0 makes it conditional: the condition vector is tiled into extra input channels
    (StarGAN). `residual=True` outputs the input plus a learned change, so that an untrained or
    weak model starts from the identity instead of from noise. Upsampling is nearest + conv
    (no checkerboard artefacts, and a plain Resize in ONNX).
    The classic CycleGAN generator is Generator(ch=64, blocks=9, depthwise=False, residual=False).
    """

    def __init__(self, ch: int = 64, blocks: int = 9, cond: int = 0, depthwise: bool = False, residual: bool = False):
        super().__init__()
        self.cond, self.residual = cond, residual
        layers = [nn.Conv2d(3 + cond, ch, 7, 1, 3, bias=False), norm(ch), nn.ReLU(inplace=True)]
        for i in range(2):
            c = ch * 2**i
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), norm(2 * c), nn.ReLU(inplace=True)]
        layers += [Block(4 * ch, depthwise) for _ in range(blocks)]
        for i in range(2):
            c = ch * 2 ** (2 - i)
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c // 2, 3, 1, 1, bias=False),
                       norm(c // 2), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(ch, 3, 7, 1, 3), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        if residual:  # start near the identity: the first samples are faces, not noise
            last = layers[-2]
            last.weight.data.mul_(0.01)
            last.bias.data.zero_()

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        if self.cond:
            h = torch.cat([x, c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], 1)
        y = self.net(h)
        # The residual may move a pixel across the whole range; clamp keeps the output an image.
        return torch.clamp(x + 2 * y, -1, 1) if self.residual else y


def separable(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, batch-normalised (folded into the convolution at export)."""
    return nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def as_taps(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv(x)` (stride 1, padded to the same size) as a 1x1 convolution to one group of output
    channels per tap and the sum of the groups' shifted views: the same numbers, but ONNX Runtime's
    CPU kernels take 1.75 ms at 128 px for the students' 3x3 head to 4 channels and 0.6 ms for this
    (docs/performance.md). Only the exported graph takes this form."""
    out, k, pad = conv.out_channels, conv.kernel_size[0], conv.padding[0]
    z = F.pad(F.conv2d(x, conv.weight.permute(2, 3, 0, 1).reshape(k * k * out, -1, 1, 1)), [pad] * 4)
    h, w = int(x.shape[2]), int(x.shape[3])  # constants in the graph: one Slice a tap, no shape arithmetic
    taps = [z[:, (i * k + j) * out:(i * k + j + 1) * out, i:i + h, j:j + w] for i in range(k) for j in range(k)]
    return sum(taps[1:], taps[0]) + conv.bias[:, None, None]


class Student(nn.Module):
    """The distilled real-time generator: a U-Net (down to 1/8, where a few separable blocks see
    the whole head, as hair and jaw changes need; skips carry the input's detail back up) with
    two heads, a colour image and an alpha that says where it changes (GANimation). The output
    is the input blended with the colour by alpha, and the alpha goes out too: the runtime pastes
    through it. The condition (target P(female), gender asked, age shift) enters as input
    channels and again as a per-channel bias at the bottleneck. The colour is a residual around the
    input, so "no change" is where training starts."""

    def __init__(self, ch: int = 16, blocks: int = 4, cond: int = 3):
        super().__init__()
        c1, c2, c3, c4 = ch, 2 * ch, 4 * ch, 6 * ch
        self.cond = cond
        self.stem = nn.Sequential(nn.Conv2d(3 + cond, c1, 3, 1, 1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(inplace=True))
        self.down1 = nn.Sequential(nn.Conv2d(c1, c2, 3, 2, 1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(inplace=True))
        self.down2, self.down3 = separable(c2, c3, 2), separable(c3, c4, 2)
        self.film = nn.Linear(cond, c4)
        self.blocks = nn.ModuleList(nn.Sequential(separable(c4, c4), separable(c4, c4)) for _ in range(blocks))
        self.up3, self.up2, self.up1 = separable(c4, c3), separable(c3, c2), separable(c2, c1)
        self.merge3, self.merge2, self.merge1 = (nn.Sequential(nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
                                                 for c in (c3, c2, c1))
        self.head = nn.Conv2d(c1, 4, 3, 1, 1)
        # Start at "no change" that can move: the colour is a residual around the input (so it
        # starts at the input), the alpha at sigmoid(-2) ~ 0.12 (at ~0.02 it took hundreds of
        # steps to move at all).
        self.head.weight.data.mul_(0.01)
        self.head.bias.data.copy_(torch.tensor([0.0, 0.0, 0.0, -2.0]))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = self.stem(torch.cat([x, c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], 1))
        h2 = self.down1(h1)
        h3 = self.down2(h2)
        h = self.down3(h3) + self.film(c)[:, :, None, None]
        for block in self.blocks:
            h = h + block(h)
        h = self.merge3(torch.cat([self.up3(F.interpolate(h, scale_factor=2.0, mode="nearest")), h3], 1))
        h = self.merge2(torch.cat([self.up2(F.interpolate(h, scale_factor=2.0, mode="nearest")), h2], 1))
        h = self.merge1(torch.cat([self.up1(F.interpolate(h, scale_factor=2.0, mode="nearest")), h1], 1))
        out = as_taps(self.head, h) if torch.onnx.is_in_onnx_export() else self.head(h)
        colour, alpha = torch.clamp(x + 2 * torch.tanh(out[:, :3]), -1, 1), torch.sigmoid(out[:, 3:])
        return x + alpha * (colour - x), alpha

    # Inputs that are the concatenation of two feature maps of equal width (upsampled, skip).
    CONCAT = ("merge3.0.weight", "merge2.0.weight", "merge1.0.weight")

    def grow(self, state: dict) -> None:
        """Load a student's weights, a narrower student's too (Net2Net, Chen et al. 2016): its
        channels keep their weights; the new channels get fresh incoming and zero outgoing
        weights, so the wider net computes exactly what the narrow one did and training goes on
        from there with the room to learn more."""
        own = self.state_dict()
        if set(state) != set(own) or any(v.dim() != own[k].dim() or any(a > b for a, b in zip(v.shape, own[k].shape))
                                          for k, v in state.items()):
            raise ValueError("not a student of this depth and at most this width")
        for k, v in state.items():
            t = own[k].clone()
            if t.shape != v.shape:
                idx = [torch.arange(n) for n in v.shape]
                if k in self.CONCAT:  # each half keeps its place: [old up, new up | old skip, new skip]
                    half, wide = v.shape[1] // 2, t.shape[1] // 2
                    idx[1] = torch.cat([torch.arange(half), wide + torch.arange(half)])
                if t.dim() > 1 and t.shape[1] != v.shape[1]:
                    keep = torch.zeros(t.shape[1], dtype=torch.bool)
                    keep[idx[1]] = True
                    t[:, ~keep] = 0  # new inputs are not read yet: the old function is kept
                grid = torch.meshgrid(*idx, indexing="ij")
                t[grid] = v
                v = t
            own[k] = v
        self.load_state_dict(own)

    def wiring(self) -> dict[str, tuple[str | None, tuple[str, ...]]]:
        """Each layer's output channel group and its inputs' groups (concatenated in this order):
        layers that share a group share its channels (the skips, the residual stream "h")."""
        w: dict[str, tuple[str | None, tuple[str, ...]]] = {}

        def plain(name, out, *ins):  # a convolution and its batch norm
            w[name + ".0"], w[name + ".1"] = (out, ins), (out, ())

        def sep(name, cin, cout):  # models.separable: depthwise (its input's group), pointwise, norm
            w[name + ".0"], w[name + ".1"], w[name + ".2"] = (cin, ()), (cout, (cin,)), (cout, ())

        plain("stem", "h1")
        plain("down1", "h2", "h1")
        sep("down2", "h2", "h3")
        sep("down3", "h3", "h")
        w["film"] = ("h", ())
        for k in range(len(self.blocks)):
            sep(f"blocks.{k}.0", "h", f"b{k}")
            sep(f"blocks.{k}.1", f"b{k}", "h")
        for n, below, skip in ((3, "h", "h3"), (2, "m3", "h2"), (1, "m2", "h1")):
            sep(f"up{n}", below, f"u{n}")
            plain(f"merge{n}", f"m{n}", f"u{n}", skip)
        w["head"] = (None, ("m1",))
        return w

    def shrink(self, state: dict) -> None:
        """Load a wider student's weights, each channel group cut to its strongest channels (the
        largest batch-norm scales of the layers that write it, as in network slimming, Liu et al.
        2017): a head start for distilling the wide net into this one (trainer/distil.py)."""
        own, wiring = self.state_dict(), self.wiring()
        if set(state) != set(own) or any(v.dim() != own[k].dim() or any(a < b for a, b in zip(v.shape, own[k].shape))
                                          for k, v in state.items()):
            raise ValueError("not a student of this depth and at least this width")
        score: dict[str, torch.Tensor] = {}
        for layer, (out, _) in wiring.items():
            if layer + ".running_var" in state:
                score[out] = score.get(out, 0) + state[layer + ".weight"].abs()
        width = {g: own[layer + ".weight"].shape[0] for layer, (g, _) in wiring.items() if layer + ".running_var" in own}
        keep = {g: s.topk(width[g]).indices.sort().values for g, s in score.items()}
        for k, v in state.items():
            layer = k.rsplit(".", 1)[0]
            out, ins = wiring[layer]
            if out is not None and v.dim() >= 1:
                v = v.index_select(0, keep[out])
            if ins and v.dim() >= 2:
                at, idx = 0, []
                for g in ins:
                    idx.append(at + keep[g])
                    at += len(score[g])
                v = v.index_select(1, torch.cat(idx))
            own[k] = v.clone()
        self.load_state_dict(own)

    def adopt(self, state: dict) -> None:
        """Load another student's weights: a narrower one grown (`grow`), a wider one shrunk."""
        own = self.state_dict()
        wider = any(a > b for k, v in state.items() if k in own for a, b in zip(v.shape, own[k].shape))
        (self.shrink if wider else self.grow)(state)


class ColourBlur(nn.Module):
    """An edit's change keeps its brightness detail and loses its fine colour: the change's chroma
    (what is left after its luma) is blurred by a Gaussian of `sigma` pixels. Trained on renders,
    the students repaint real hair with rainbow specks a few pixels wide; a colour that a real
    edit needs (hair, lips, grey) is broader than that, and strands, lines and stubble are
    brightness."""

    LUMA = (0.299, 0.587, 0.114)

    def __init__(self, sigma: float):
        super().__init__()
        r = max(1, round(3 * sigma))
        k = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
        self.register_buffer("kernel", (k / k.sum()).repeat(3, 1, 1, 1))  # [3, 1, 1, 2r+1]
        self.register_buffer("luma", torch.tensor(self.LUMA)[None, :, None, None])

    def blur(self, x: torch.Tensor) -> torch.Tensor:
        r = self.kernel.shape[-1] // 2
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), self.kernel, groups=3)
        return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), self.kernel.transpose(2, 3), groups=3)

    def forward(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        change = out - x
        bright = (change * self.luma).sum(1, keepdim=True)
        return torch.clamp(x + bright + self.blur(change - bright), -1, 1)


class SmoothColour(nn.Module):
    """An edit model (image, condition) -> (output, alpha) with its change through ColourBlur."""

    def __init__(self, g: nn.Module, sigma: float):
        super().__init__()
        self.g, self.smooth = g, ColourBlur(sigma)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, alpha = self.g(x, c)
        return self.smooth(out, x), alpha


class Discriminator(nn.Module):
    """PatchGAN (70x70 receptive field at 4 layers): a grid of real/fake scores (LSGAN), and,
    for StarGAN, `classes` > 0 adds a domain head on the pooled features (logits or values).
    `inputs` > 3 makes it conditional (pix2pix): it sees the input and condition beside the image."""

    def __init__(self, ch: int = 64, layers: int = 3, classes: int = 0, inputs: int = 3):
        super().__init__()
        seq, c = [nn.Conv2d(inputs, ch, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)], ch
        for i in range(1, layers + 1):
            nc = min(ch * 2**i, ch * 8)
            stride = 2 if i < layers else 1
            seq += [nn.Conv2d(c, nc, 4, stride, 1), norm(nc), nn.LeakyReLU(0.2, inplace=True)]
            c = nc
        self.features = nn.Sequential(*seq)
        self.patch = nn.Conv2d(c, 1, 4, 1, 1)
        self.head = nn.Linear(c, classes) if classes else None

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's activations, first to last (what pix2pixHD's feature matching compares)."""
        out = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                out.append(x)
        return out

    def forward(self, x: torch.Tensor):
        h = self.features(x)
        if self.head is None:
            return self.patch(h)
        return self.patch(h), self.head(h.mean((2, 3)))


class AttributeNet(nn.Module):
    """A small VGG-style classifier: P(female) as a logit and the age in decades. Its exported
    form (sigmoid, years) is what the runtime's `swap` asks; training uses it frozen as the
    generators' own attribute loss (never the independent judges)."""

    def __init__(self, ch: int = 32):
        super().__init__()
        layers, c = [], 3
        for nc in [ch, 2 * ch, 4 * ch, 8 * ch, 8 * ch]:
            layers += [nn.Conv2d(c, nc, 3, 1, 1, bias=False), nn.BatchNorm2d(nc), nn.ReLU(inplace=True),
                       nn.Conv2d(nc, nc, 3, 1, 1, bias=False), nn.BatchNorm2d(nc), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = nc
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.3)
        self.out = nn.Linear(c, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # 64 px tell gender and age apart well enough, at a quarter of the cost of 128.
        h = self.dropout(self.features(resize(x, 64)).mean((2, 3)))
        y = self.out(h)
        return y[:, 0], y[:, 1]  # female logit, age / 10


class AttributeOutputs(nn.Module):
    """The classifier as the runtime reads it: P(female) and the age in years, each [N, 1]."""

    def __init__(self, net: AttributeNet):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logit, decades = self.net(image)
        return torch.sigmoid(logit)[:, None], (decades * 10)[:, None]


ARCHS = {
    # name: (class, kwargs)
    "resnet9": (Generator, dict(ch=64, blocks=9)),
    "resnet6": (Generator, dict(ch=64, blocks=6)),
    "small": (Generator, dict(ch=16, blocks=6, depthwise=True, residual=True)),
    "small32": (Generator, dict(ch=32, blocks=6, depthwise=True, residual=True)),
    "unet16": (Student, dict(ch=16, blocks=4)),
    "unet20": (Student, dict(ch=20, blocks=4)),
    "unet24": (Student, dict(ch=24, blocks=4)),
    "unet32": (Student, dict(ch=32, blocks=4)),
}


def generator(arch: str, cond: int = 0) -> nn.Module:
    cls, kw = ARCHS[arch]
    return cls(cond=cond, **kw)


def describe(arch: str) -> str:
    """An architecture in words, for model cards: e.g. "16ch depthwise ResNet-6, residual output"."""
    cls, kw = ARCHS[arch]
    if cls is Student:
        return (f"U-Net {kw['ch']}-{2 * kw['ch']}-{4 * kw['ch']}-{6 * kw['ch']}ch to 1/8 with {kw['blocks']} "
                f"separable residual blocks, colour and alpha heads")
    text = f"{kw['ch']}ch {'depthwise ' if kw.get('depthwise') else ''}ResNet-{kw['blocks']}"
    return text + (", residual output" if kw.get("residual") else "")


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
