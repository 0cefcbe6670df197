"""sr_engine: makes the images of super-resolution reader studies (a plain library, no Django).

Modules:
    volume         the Volume type: voxels with the affine that places them in patient space
    dicom_series   writing a Volume as a DICOM series and reading one back
    slice_profile  acquisition simulation: thick slices from thin ones
    brain_phantom  realistic brain volumes with metastasis-like lesions for demos and tests
"""
