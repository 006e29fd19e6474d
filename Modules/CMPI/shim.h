// The C surface MixFill's MPI module uses. Open MPI defines its predefined handles
// (MPI_COMM_WORLD, MPI_DOUBLE, …) as macros taking the address of library globals, which
// Swift does not import; these functions return them. Only Sources/MixFillMPI imports it.
#ifndef MIXFILL_CMPI_SHIM_H
#define MIXFILL_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm mixfill_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype mixfill_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype mixfill_mpi_byte(void) { return MPI_BYTE; }
static inline int mixfill_mpi_success(void) { return MPI_SUCCESS; }
static inline int mixfill_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline MPI_Status *mixfill_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
#endif
