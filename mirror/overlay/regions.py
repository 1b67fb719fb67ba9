"""The face regions the overlays draw on, as MediaPipe face-mesh landmark indices, and which slider
drives each overlay."""

from __future__ import annotations

OVERLAYS = ("eyeliner", "lips", "blush", "stubble", "brows", "grey", "wrinkles", "smooth", "debug")
DEFAULT = frozenset(OVERLAYS) - {"debug"}
# What drives each overlay: one gender target, or one direction of the age slider.
DRIVER = {"eyeliner": "female", "lips": "female", "blush": "female", "stubble": "male", "brows": "male",
          "grey": "older", "wrinkles": "older", "smooth": "younger"}

# MediaPipe face-mesh indices (a test checks them against MediaPipe's own contours). Pairs are
# (subject's right, subject's left); "right" is the image's left.
LIPS_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
LIPS_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
UPPER_LIDS = ([133, 173, 157, 158, 159, 160, 161, 246, 33], [362, 398, 384, 385, 386, 387, 388, 466, 263])
# Upper edge from the outer end in, then the lower edge back out.
BROWS = ([70, 63, 105, 66, 107, 55, 65, 52, 53, 46], [300, 293, 334, 296, 336, 285, 295, 282, 283, 276])
CHEEKS = ([50, 101, 118, 117, 123, 187, 205, 36], [280, 330, 347, 346, 352, 411, 425, 266])
# Where a beard grows: along the jaw from ear to ear, then back above the mouth under the nose.
BEARD = [234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323,
         454, 376, 411, 427, 436, 410, 322, 391, 393, 164, 167, 165, 92, 186, 216, 207, 187, 147]
# Forehead rows, each from the subject's right to left: above the brows, mid forehead, its top.
FOREHEAD = ([105, 66, 107, 9, 336, 296, 334], [104, 69, 108, 151, 337, 299, 333], [103, 67, 109, 10, 338, 297, 332])
# The hairline runs above the upper half of the face oval, here from ear to ear.
HAIRLINE = [127, 162, 21, 54, 103, 67, 109, 10, 338, 297, 332, 284, 251, 389, 356]
NASOLABIAL = ([129, 203, 206, 216, 212], [358, 423, 426, 436, 432])
EYE_CORNERS = ((133, 33), (362, 263))  # (inner, outer)
LOWER_LIDS = ([133, 155, 154, 153, 145, 144, 163, 7, 33], [362, 382, 381, 380, 374, 373, 390, 249, 263])
RIGHT_EYE_RING, LEFT_EYE_RING = (u + lo[::-1][1:-1] for u, lo in zip(UPPER_LIDS, LOWER_LIDS))
FROWN = (55, 285)  # the inner ends of the brows
CHEEK_SKIN = [50, 280, 205, 425, 101, 330]  # bare skin whatever the overlay: the reference skin tone
BRIDGE, CHIN = 168, 152  # between the eyes; the chin: the face's up runs from one to the other
