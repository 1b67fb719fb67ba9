"""mirror-train: prepares face data, trains the mirror's generators and classifier, exports ONNX."""
