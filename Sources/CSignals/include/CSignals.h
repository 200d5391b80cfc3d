#ifndef MAMFUSION_CSIGNALS_H
#define MAMFUSION_CSIGNALS_H
/// Installs SIGINT and SIGTERM handlers that only set a flag (async-signal-safe); the trainer
/// polls it at step boundaries, agrees on it across ranks and then writes `latest` and exits.
void mf_install_stop_handlers(void);
/// The signal number that asked to stop (0: none yet).
int mf_stop_signal(void);
/// Sets the flag as a signal would (tests, and "stop after this step" requests).
void mf_request_stop(int signal_number);
#endif
