# Sourced by the Launch/ scripts: the environment every run of mamfusion expects.
# Open MPI refuses to run as root unless told; containers run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One OpenBLAS thread per MPI rank unless the user says otherwise.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
