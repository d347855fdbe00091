"""Functional ViT inference through the faulty accelerator, accuracy studies and accuracy-driven thresholds.

vit: numpy ViT whose GEMMs go through a pluggable matmul; accelerator: the functional int8 path
with PE faults and ABFT policies; bundle: the bundled digits ViT and its held-out splits;
inference: one pass over a split; accuracy: accuracy per policy and BER; calibrate: ApproxABFT
thresholds from accuracy.
"""
