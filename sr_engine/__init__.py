"""sr_engine: makes the images of super-resolution reader studies (a plain library, no Django).

Use it from Python (``from sr_engine.upscale import upscale``) or from the command line
(``python -m sr_engine simulate|upscale|train|evaluate --help``).

Dependencies: sr_engine depends on stats.agreement only (:mod:`sr_engine.dess` uses its
concordance correlation and within-subject CV, so that the engine and the reader-study
statistics compute agreement one way); stats never imports sr_engine. Neither imports Django.

Modules:
    volume         the Volume type: voxels (one or several echoes) with the affine that places them;
                   the only module that knows the affine's (column, row, slice) index order
    dicom_series   reading single- and multi-frame, multi-echo DICOM series; writing derived series
    nifti_io       reading and writing NIfTI volumes (RAS <-> LPS), provenance in a header extension
    volume_io      one entry point, read_volume / write_volume, choosing DICOM or NIfTI by path
    provenance     the sealed provenance record of derived series and its check
    simulate       acquisition simulation: slice profiles and gaps, k-space truncation, Rician noise
    slice_profile  the box-profile thick slices of the demo (a wrapper over simulate)
    interpolate    the upscaled grid rule and the classical methods: nearest, linear, tci, fi
    upscale        the one entry point for every method, classical and learned
    selfsr_v2      the method selfsr: self-supervised through-plane SR on the thick-slice grid
                   (ECLARE's design on a CPU budget), trained on the volume itself
    selfsr         version 1 (the method selfsr-v1, SMORE style) and the training pairs both use
    axes           which axis a method upscales: the thick one from the spacing, or the image plane
    networks       the residual CNNs (3D and 2D) of the learned methods
    resnet         inference with trained resnet3d/resnet2d weights
    training       training resnet3d/resnet2d, transfer from one to several echoes
    tiling         tiled inference with a halo (identical to untiled, bounded memory)
    weights        weight files with their metadata
    model_file     the model method: a brought ONNX or TorchScript model with its JSON metadata
    metrics        PSNR, SSIM, RMSE, NRMSE, whole volume and tissue mask
    roi            measurements on one image: line profiles (FWHM, edge rise), circles (mean, SD, SNR, CNR)
    dess           T2 maps from dual-echo DESS and their agreement with a reference
    lesions        synthetic lesions with their ground truth, for simulation studies
    brain_phantom  realistic brain volumes with metastasis-like lesions for demos and tests
    progress       progress reporting: silent, a bar, or a callback
    extras         the optional dependencies (the [sr] extra: torch, onnxruntime) and the message
                   when one is missing
    cli            the command line
"""

#: The version recorded in weight files and in the provenance of every derived volume.
__version__ = "0.6.0"
