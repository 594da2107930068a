// The embedding part of consumer_cmake (embedding.cpp), built when the installed libmtop_cpp.so
// implements mtop::Server and mtop::Climber (MTOP_CONSUMER_EMBEDDING).
#pragma once

/// Runs an embedded server and climbers on loopback with the given PEM certificate and key;
/// exits the process with a message on the first failed check.
void run_embedding(const char* cert_file, const char* key_file);
