"""The bundled workload: MLPerf v0.7 Mask R-CNN trained by the reference's method (imports torch, except
contract, recipe and resources)."""
