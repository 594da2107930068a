/*
 * abi_dump.c - prints, one `key=value` per line, every constant, struct size and field
 * offset/size of mtop.h that a hand-written binding copies (examples/python/mtop.py).
 * examples/python/check_bindings.py compares the output with the ctypes module and with the
 * header itself (a constant, struct or field missing here fails that check too).
 *
 *   const.MTOP_ERR_INVALID_ARGUMENT=-10001
 *   sizeof.mtop_address=48          (on LP64)
 *   offsetof.mtop_address.port=40
 *   fieldsize.mtop_address.port=2
 */
#include <stddef.h>
#include <stdio.h>

#include "mtop.h"

#define CONST(name) printf("const.%s=%lld\n", #name, (long long)(name))
#define STRUCT(type) printf("sizeof.%s=%zu\n", #type, sizeof(type))
#define FIELD(type, field)                                                   \
  printf("offsetof.%s.%s=%zu\nfieldsize.%s.%s=%zu\n", #type, #field,          \
         offsetof(type, field), #type, #field, sizeof(((type *)0)->field))

int main(void) {
  CONST(MTOP_ERR_INVALID_ARGUMENT);
  CONST(MTOP_ERR_INVALID_STATE);
  CONST(MTOP_ERR_NO_MEMORY);
  CONST(MTOP_ERR_NOMEM);
  CONST(MTOP_ERR_BAD_VERSION);
  CONST(MTOP_ERR_BAD_METHOD);
  CONST(MTOP_ERR_BAD_USERNAME);
  CONST(MTOP_ERR_BAD_PASSWORD);
  CONST(MTOP_ERR_BAD_ADDRESS_TYPE);
  CONST(MTOP_ERR_BAD_DOMAIN);
  CONST(MTOP_ERR_BAD_PORT);
  CONST(MTOP_ERR_BAD_STATUS);
  CONST(MTOP_ERR_EARLY_DATA_LIMIT);
  CONST(MTOP_ERR_PEER_CLOSED);
  CONST(MTOP_ERR_BAD_FRAME);
  CONST(MTOP_ERR_KEEPALIVE_TIMEOUT);
  CONST(MTOP_ERR_SOCKS_BAD_VERSION);
  CONST(MTOP_ERR_SOCKS_NO_METHODS);
  CONST(MTOP_ERR_SOCKS_BAD_RESERVED);
  CONST(MTOP_ERR_SOCKS_BAD_ADDRESS_TYPE);
  CONST(MTOP_ERR_SOCKS_BAD_ADDRESS);
  CONST(MTOP_ERR_SOCKS_BAD_CREDENTIALS);
  CONST(MTOP_ERR_SOCKS_AUTH_FAILED);
  CONST(MTOP_ERR_SOCKS_NO_ACCEPTABLE_METHOD);
  CONST(MTOP_ERR_SOCKS_COMMAND_NOT_SUPPORTED);
  CONST(MTOP_ERR_HTTP_BAD_REQUEST);
  CONST(MTOP_ERR_HTTP_HEADER_TOO_LARGE);
  CONST(MTOP_ERR_HTTP_TOO_MANY_HEADERS);
  CONST(MTOP_ERR_HTTP_BAD_TARGET);
  CONST(MTOP_ERR_HTTP_UNSUPPORTED);
  CONST(MTOP_ERR_HTTP_BAD_VERSION);
  CONST(MTOP_ERR_STORE_UNAVAILABLE);
  CONST(MTOP_ERR_STORE_DUPLICATE_USER);
  CONST(MTOP_ERR_STORE_NO_SUCH_USER);
  CONST(MTOP_ERR_STORE_QUERY_FAILED);
  CONST(MTOP_ERR_CONFIG_INVALID);
  CONST(MTOP_ERR_LISTEN_FAILED);
  CONST(MTOP_ERR_TLS_SETUP_FAILED);
  CONST(MTOP_ERR_NOT_BUILT_IN);
  CONST(MTOP_ERR_SYSTEM);
  CONST(MTOP_ERR_TUNNEL_REFUSED);
  CONST(MTOP_ERR_TUNNEL_FAILED);
  CONST(MTOP_ERR_LIMIT_REACHED);
  CONST(MTOP_ERR_CANCELLED);
  CONST(MTOP_ERR_INTERNAL);

  CONST(MTOP_ADDRESS_IPV4);
  CONST(MTOP_ADDRESS_DOMAIN);
  CONST(MTOP_ADDRESS_IPV6);
  CONST(MTOP_STATUS_SUCCESS);
  CONST(MTOP_STATUS_VERSION_NOT_SUPPORTED);
  CONST(MTOP_STATUS_AUTH_FAILED);
  CONST(MTOP_STATUS_CONNECT_FAILED);
  CONST(MTOP_STATUS_NOT_PERMITTED);
  CONST(MTOP_STATUS_PORT_IN_USE);
  CONST(MTOP_STATUS_BAD_REQUEST);
  CONST(MTOP_MAX_AUTH_MESSAGE_SIZE);
  CONST(MTOP_RESPONSE_SIZE);
  CONST(MTOP_MAX_FIELD_SIZE);
  CONST(MTOP_DEFAULT_EARLY_DATA_LIMIT);
  CONST(MTOP_SETTINGS_VERSION);

  CONST(MTOP_EVENT_NEED_DATA);
  CONST(MTOP_EVENT_AUTH_REQUEST);
  CONST(MTOP_EVENT_ESTABLISHED);
  CONST(MTOP_EVENT_PAYLOAD);
  CONST(MTOP_EVENT_END_OF_INPUT);
  CONST(MTOP_EVENT_REJECTED);
  CONST(MTOP_EVENT_CLOSED_WITHOUT_STATUS);
  CONST(MTOP_EVENT_ERROR);
  CONST(MTOP_REJECT_STEALTH);
  CONST(MTOP_REJECT_REPLY);

  CONST(MTOP_PROXY_EVENT_NEED_DATA);
  CONST(MTOP_PROXY_EVENT_AUTH);
  CONST(MTOP_PROXY_EVENT_REQUEST);
  CONST(MTOP_PROXY_EVENT_PAYLOAD);
  CONST(MTOP_PROXY_EVENT_END_OF_INPUT);
  CONST(MTOP_PROXY_EVENT_ERROR);
  CONST(MTOP_SOCKS5_REPLY_GENERAL_FAILURE);
  CONST(MTOP_SOCKS5_REPLY_NOT_ALLOWED);
  CONST(MTOP_SOCKS5_REPLY_NETWORK_UNREACHABLE);
  CONST(MTOP_SOCKS5_REPLY_HOST_UNREACHABLE);
  CONST(MTOP_SOCKS5_REPLY_CONNECTION_REFUSED);
  CONST(MTOP_SOCKS5_REPLY_TTL_EXPIRED);
  CONST(MTOP_SOCKS5_REPLY_COMMAND_NOT_SUPPORTED);
  CONST(MTOP_SOCKS5_REPLY_ADDRESS_TYPE_NOT_SUPPORTED);
  CONST(MTOP_SOCKS5_SETTINGS_VERSION);
  CONST(MTOP_SOCKS5_EVENT_VERSION);
  CONST(MTOP_DEFAULT_PROXY_MAX_PAYLOAD);
  CONST(MTOP_HTTP_STATUS_BAD_REQUEST);
  CONST(MTOP_HTTP_STATUS_FORBIDDEN);
  CONST(MTOP_HTTP_STATUS_PROXY_AUTH_REQUIRED);
  CONST(MTOP_HTTP_STATUS_BAD_GATEWAY);
  CONST(MTOP_HTTP_STATUS_GATEWAY_TIMEOUT);
  CONST(MTOP_HTTP_AUTH_ABSENT);
  CONST(MTOP_HTTP_AUTH_BASIC);
  CONST(MTOP_HTTP_AUTH_MALFORMED);
  CONST(MTOP_HTTP_PROXY_SETTINGS_VERSION);
  CONST(MTOP_HTTP_PROXY_EVENT_VERSION);
  CONST(MTOP_DEFAULT_HTTP_MAX_HEAD_SIZE);
  CONST(MTOP_DEFAULT_HTTP_MAX_HEADER_LINES);

  STRUCT(mtop_address);
  FIELD(mtop_address, type);
  FIELD(mtop_address, ip);
  FIELD(mtop_address, domain);
  FIELD(mtop_address, domain_len);
  FIELD(mtop_address, port);

  STRUCT(mtop_auth_message);
  FIELD(mtop_auth_message, username);
  FIELD(mtop_auth_message, username_len);
  FIELD(mtop_auth_message, password);
  FIELD(mtop_auth_message, password_len);
  FIELD(mtop_auth_message, target);

  STRUCT(mtop_client_event);
  FIELD(mtop_client_event, type);
  FIELD(mtop_client_event, status);
  FIELD(mtop_client_event, error);
  FIELD(mtop_client_event, data);
  FIELD(mtop_client_event, len);

  STRUCT(mtop_server_event);
  FIELD(mtop_server_event, type);
  FIELD(mtop_server_event, error);
  FIELD(mtop_server_event, data);
  FIELD(mtop_server_event, len);
  FIELD(mtop_server_event, request);

  STRUCT(mtop_server_settings);
  FIELD(mtop_server_settings, version);
  FIELD(mtop_server_settings, early_data_limit);

  STRUCT(mtop_socks5_settings);
  FIELD(mtop_socks5_settings, no_auth);
  FIELD(mtop_socks5_settings, username_password);
  FIELD(mtop_socks5_settings, max_payload);

  STRUCT(mtop_socks5_event);
  FIELD(mtop_socks5_event, type);
  FIELD(mtop_socks5_event, error);
  FIELD(mtop_socks5_event, data);
  FIELD(mtop_socks5_event, len);
  FIELD(mtop_socks5_event, username);
  FIELD(mtop_socks5_event, username_len);
  FIELD(mtop_socks5_event, password);
  FIELD(mtop_socks5_event, password_len);
  FIELD(mtop_socks5_event, target);

  STRUCT(mtop_http_proxy_settings);
  FIELD(mtop_http_proxy_settings, max_head_size);
  FIELD(mtop_http_proxy_settings, max_header_lines);
  FIELD(mtop_http_proxy_settings, max_payload);

  STRUCT(mtop_http_proxy_event);
  FIELD(mtop_http_proxy_event, type);
  FIELD(mtop_http_proxy_event, error);
  FIELD(mtop_http_proxy_event, data);
  FIELD(mtop_http_proxy_event, len);
  FIELD(mtop_http_proxy_event, method);
  FIELD(mtop_http_proxy_event, method_len);
  FIELD(mtop_http_proxy_event, target);
  FIELD(mtop_http_proxy_event, connect);
  FIELD(mtop_http_proxy_event, http_minor);
  FIELD(mtop_http_proxy_event, forward_head);
  FIELD(mtop_http_proxy_event, forward_head_len);
  FIELD(mtop_http_proxy_event, auth);
  FIELD(mtop_http_proxy_event, username);
  FIELD(mtop_http_proxy_event, username_len);
  FIELD(mtop_http_proxy_event, password);
  FIELD(mtop_http_proxy_event, password_len);

  /* Versions and the engine sections. */
  CONST(MTOP_VERSION_MAJOR);
  CONST(MTOP_VERSION_MINOR);
  CONST(MTOP_VERSION_PATCH);
  CONST(MTOP_VERSION_NUM);
  CONST(MTOP_SERVER_SETTINGS_VERSION);
  CONST(MTOP_CLIENT_EVENT_VERSION);
  CONST(MTOP_SERVER_EVENT_VERSION);
  CONST(MTOP_SERVER_CONFIG_VERSION);
  CONST(MTOP_SERVER_CALLBACKS_VERSION);
  CONST(MTOP_SERVER_STATS_VERSION);
  CONST(MTOP_USER_GRANT_VERSION);
  CONST(MTOP_CLIMBER_CONFIG_VERSION);
  CONST(MTOP_CLIMBER_STATS_VERSION);
  CONST(MTOP_REVERSE_STATE_VERSION);
  CONST(MTOP_LOG_DEBUG);
  CONST(MTOP_LOG_INFO);
  CONST(MTOP_LOG_WARN);
  CONST(MTOP_LOG_ERROR);
  CONST(MTOP_LOG_OFF);
  CONST(MTOP_FAILURE_OVERLOADED);
  CONST(MTOP_FAILURE_DRAINING);
  CONST(MTOP_FAILURE_HANDSHAKE_TIMEOUT);
  CONST(MTOP_FAILURE_PROTOCOL_ERROR);
  CONST(MTOP_FAILURE_CLIENT_CLOSED);
  CONST(MTOP_FAILURE_THROTTLED);
  CONST(MTOP_FAILURE_AUTH_FAILED);
  CONST(MTOP_FAILURE_STORE_UNAVAILABLE);
  CONST(MTOP_FAILURE_STORE_ERROR);
  CONST(MTOP_FAILURE_ACCOUNT_REFUSED);
  CONST(MTOP_FAILURE_USER_TUNNEL_LIMIT);
  CONST(MTOP_FAILURE_TARGET_DENIED);
  CONST(MTOP_FAILURE_TARGET_FAILED);
  CONST(MTOP_FAILURE_REVOKED);
  CONST(MTOP_FAILURE_COUNT);
  CONST(MTOP_ACCESS_LOG_JSON);
  CONST(MTOP_ACCESS_LOG_LOGFMT);
  CONST(MTOP_REJECTION_SOURCE_DENIED);
  CONST(MTOP_REJECTION_MAX_TUNNELS);
  CONST(MTOP_REJECTION_MAX_TUNNELS_PER_USER);
  CONST(MTOP_REJECTION_MAX_TUNNELS_PER_SOURCE);
  CONST(MTOP_REJECTION_MAX_TUNNELS_PER_SUBNET);
  CONST(MTOP_REJECTION_SOURCE_RATE);
  CONST(MTOP_REJECTION_TARGET_PORT);
  CONST(MTOP_REJECTION_COUNT);
  CONST(MTOP_TRANSPORT_DEFAULT);
  CONST(MTOP_TRANSPORT_TLS);
  CONST(MTOP_TRANSPORT_QUIC);
  CONST(MTOP_TRANSPORT_AUTO);

  STRUCT(mtop_server_config);
  FIELD(mtop_server_config, listen);
  FIELD(mtop_server_config, listen_count);
  FIELD(mtop_server_config, cert_file);
  FIELD(mtop_server_config, key_file);
  FIELD(mtop_server_config, quic);
  FIELD(mtop_server_config, reply_mode);
  FIELD(mtop_server_config, handshake_timeout_ms);
  FIELD(mtop_server_config, connect_timeout_ms);
  FIELD(mtop_server_config, idle_timeout_ms);
  FIELD(mtop_server_config, drain_timeout_ms);
  FIELD(mtop_server_config, allow_targets);
  FIELD(mtop_server_config, allow_targets_count);
  FIELD(mtop_server_config, users_file);
  FIELD(mtop_server_config, max_tunnels);
  FIELD(mtop_server_config, log_level);
  FIELD(mtop_server_config, admin_listen);
  FIELD(mtop_server_config, admin_token_file);
  FIELD(mtop_server_config, admin_metrics_token_file);
  FIELD(mtop_server_config, admin_per_user_metrics);
  FIELD(mtop_server_config, access_log);
  FIELD(mtop_server_config, access_log_format);
  FIELD(mtop_server_config, allow_sources);
  FIELD(mtop_server_config, allow_sources_count);
  FIELD(mtop_server_config, deny_sources);
  FIELD(mtop_server_config, deny_sources_count);
  FIELD(mtop_server_config, max_tunnels_per_source);
  FIELD(mtop_server_config, max_tunnels_per_subnet);
  FIELD(mtop_server_config, subnet_prefix_v4);
  FIELD(mtop_server_config, subnet_prefix_v6);
  FIELD(mtop_server_config, source_rate);
  FIELD(mtop_server_config, source_burst);
  FIELD(mtop_server_config, deny_target_ports);
  FIELD(mtop_server_config, deny_target_ports_count);
  FIELD(mtop_server_config, workers);

  STRUCT(mtop_user_grant);
  FIELD(mtop_user_grant, user);
  FIELD(mtop_user_grant, max_tunnels);
  FIELD(mtop_user_grant, rate_limit);
  FIELD(mtop_user_grant, publish);

  STRUCT(mtop_server_callbacks);
  FIELD(mtop_server_callbacks, auth);
  FIELD(mtop_server_callbacks, log);

  STRUCT(mtop_server_stats);
  FIELD(mtop_server_stats, live);
  FIELD(mtop_server_stats, relaying);
  FIELD(mtop_server_stats, total);
  FIELD(mtop_server_stats, accepted);
  FIELD(mtop_server_stats, bytes_up);
  FIELD(mtop_server_stats, bytes_down);
  FIELD(mtop_server_stats, active_users);
  FIELD(mtop_server_stats, failures);
  FIELD(mtop_server_stats, rejections);
  FIELD(mtop_server_stats, reverse_ports);
  FIELD(mtop_server_stats, reverse_ports_grace);
  FIELD(mtop_server_stats, reverse_visitors);
  FIELD(mtop_server_stats, reverse_visitors_total);
  FIELD(mtop_server_stats, reverse_visitors_refused);

  STRUCT(mtop_reload_report);
  FIELD(mtop_reload_report, changed);
  FIELD(mtop_reload_report, changed_count);
  FIELD(mtop_reload_report, not_applied);
  FIELD(mtop_reload_report, not_applied_count);
  FIELD(mtop_reload_report, summary);

  STRUCT(mtop_tunnel_info);
  FIELD(mtop_tunnel_info, id);
  FIELD(mtop_tunnel_info, transport);
  FIELD(mtop_tunnel_info, listener);
  FIELD(mtop_tunnel_info, source);
  FIELD(mtop_tunnel_info, user);
  FIELD(mtop_tunnel_info, target);
  FIELD(mtop_tunnel_info, stage);
  FIELD(mtop_tunnel_info, bytes_up);
  FIELD(mtop_tunnel_info, bytes_down);
  FIELD(mtop_tunnel_info, age_ms);

  STRUCT(mtop_tunnel_list);
  FIELD(mtop_tunnel_list, items);
  FIELD(mtop_tunnel_list, count);

  STRUCT(mtop_user_info);
  FIELD(mtop_user_info, username);
  FIELD(mtop_user_info, enabled);
  FIELD(mtop_user_info, has_expires_at);
  FIELD(mtop_user_info, expires_at);
  FIELD(mtop_user_info, has_max_tunnels);
  FIELD(mtop_user_info, max_tunnels);
  FIELD(mtop_user_info, has_quota_bytes);
  FIELD(mtop_user_info, quota_bytes);
  FIELD(mtop_user_info, used_bytes);
  FIELD(mtop_user_info, has_rate_limit);
  FIELD(mtop_user_info, rate_limit);
  FIELD(mtop_user_info, publish);

  STRUCT(mtop_user_list);
  FIELD(mtop_user_list, items);
  FIELD(mtop_user_list, count);

  STRUCT(mtop_climber_config);
  FIELD(mtop_climber_config, server_uri);
  FIELD(mtop_climber_config, password);
  FIELD(mtop_climber_config, transport);
  FIELD(mtop_climber_config, ca_file);
  FIELD(mtop_climber_config, pin);
  FIELD(mtop_climber_config, insecure);
  FIELD(mtop_climber_config, socks_listen);
  FIELD(mtop_climber_config, http_listen);
  FIELD(mtop_climber_config, forwards);
  FIELD(mtop_climber_config, forward_count);
  FIELD(mtop_climber_config, handshake_timeout_ms);
  FIELD(mtop_climber_config, connect_timeout_ms);
  FIELD(mtop_climber_config, idle_timeout_ms);
  FIELD(mtop_climber_config, log_level);
  FIELD(mtop_climber_config, reverses);
  FIELD(mtop_climber_config, reverse_count);
  FIELD(mtop_climber_config, reverse_proxy_protocol);

  STRUCT(mtop_reverse_state);
  FIELD(mtop_reverse_state, port);
  FIELD(mtop_reverse_state, published);
  FIELD(mtop_reverse_state, refusal);
  FIELD(mtop_reverse_state, visitors_total);

  STRUCT(mtop_climber_stats);
  FIELD(mtop_climber_stats, active_connections);
  FIELD(mtop_climber_stats, total_connections);
  FIELD(mtop_climber_stats, refused_connections);
  FIELD(mtop_climber_stats, tunnels_opened);
  FIELD(mtop_climber_stats, tunnels_failed);
  FIELD(mtop_climber_stats, bytes_up);
  FIELD(mtop_climber_stats, bytes_down);
  FIELD(mtop_climber_stats, reverse_published);
  FIELD(mtop_climber_stats, reverse_visitors_total);
  return 0;
}
