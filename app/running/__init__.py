"""All background work: engine jobs on a worker thread, remote jobs on Qt's event loop, saves."""
