"""Body models (SMPL-X, Anny), rotation utilities, mesh rendering and export."""
