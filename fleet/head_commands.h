/*
 * The commands behind the heads' screenshot and log proxies
 * (GET /api/v1/heads/{id}/screenshot and …/logs, api/head_proxy.c), and the
 * parsers of what they print. They run on the head through the exec queue:
 * the agent runs them with bash on macOS and Linux (so they are plain POSIX
 * sh, no GNU-only or BSD-only flag) and with PowerShell on Windows.
 *
 * Pure: no locks, no config, no clock. Any thread. Unit tests run the sh
 * commands under dash and bash --posix (tests/unit/test_head_commands.c).
 *
 * What the commands print (stdout; a line may come before the marker, e.g.
 * from a shell profile, and is skipped):
 *   hydra-screenshot: missing            no regular file at the path
 *   hydra-screenshot: stale              older than max_age_s (by the head's clock)
 *   hydra-screenshot: too-large <bytes>  larger than max_bytes
 *   hydra-screenshot: ok <bytes>         then the file's base64 (any wrapping)
 *   hydra-logs: missing <path>           no regular file at the path
 *   hydra-logs: unreadable <path>
 *   hydra-logs: ok <path>                then the last lines
 *   hydra-logs: cut <path>               then the last max_bytes of them (its
 *                                        first line is partial)
 * <path> is the log path as the head resolved it (defaults use $HOME or
 * %ProgramData%). Anything else, or a non-zero exit, is a failure.
 */
#ifndef HC_HEAD_COMMANDS_H
#define HC_HEAD_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#define HEAD_PATH_MAX 1024  /* bytes of a screenshot or log path */
#define HEAD_LOG_LINES 200  /* the log tail's length (spec) */

typedef enum {
    HEAD_SHELL_POSIX = 0,  /* macOS, Linux, and any other os the agent runs bash on */
    HEAD_SHELL_POWERSHELL, /* windows */
    HEAD_SHELL_NONE,       /* ipados / ios: the app has no shell */
} head_shell_t;

/* Which shell a head's agent runs commands with, from its node os
 * (case-insensitive): "windows…" PowerShell; "ipados", "ios" none; anything
 * else (darwin, macos, linux, unknown) POSIX sh. */
head_shell_t head_shell_for_os(const char *os);

/* 1 when path is usable for that shell: 1..HEAD_PATH_MAX bytes, no control
 * character (so no newline), and absolute: "/…" or "~/…" (the agent's home)
 * for sh; "X:\…", "X:/…", "\\server\…", "\…" or "/…" for PowerShell. Any
 * other character is fine: the commands quote the path. */
int head_path_ok(head_shell_t shell, const char *path);

/* The screenshot command for the file at path (head_path_ok). The file is
 * stale when its modification time is more than max_age_s seconds before
 * the head's clock; a file larger than max_bytes is not sent. malloc'ed, or
 * NULL (out of memory, bad path, HEAD_SHELL_NONE). */
char *head_screenshot_command(head_shell_t shell, const char *path, uint64_t max_age_s, uint64_t max_bytes);

/* The log tail command: the last HEAD_LOG_LINES lines of the file at path,
 * cut to their last max_bytes bytes. path NULL: the OS default, see
 * head_log_default_path. malloc'ed, or NULL. */
char *head_logs_command(head_shell_t shell, const char *os, const char *path, uint64_t max_bytes);

/* The default log path for an os, as documented (the head resolves the
 * variable): "$HOME/Library/Logs/hydrahead/agent.log" for darwin/macos,
 * "/var/log/hydrahead/agent.log" for linux and other sh heads,
 * "%ProgramData%\hydrahead\agent.log" for windows. */
const char *head_log_default_path(const char *os);

/* Outcome of parsing the screenshot command's stdout. */
typedef enum {
    HEAD_SHOT_OK = 0,
    HEAD_SHOT_MISSING,
    HEAD_SHOT_STALE,
    HEAD_SHOT_TOO_LARGE, /* *size says how large */
    HEAD_SHOT_MALFORMED, /* err says what is wrong */
    HEAD_SHOT_NOT_JPEG,  /* decoded fine, but no JPEG start-of-image marker */
    HEAD_SHOT_ENOMEM,
} head_shot_t;

/* Parses out[0..len). HEAD_SHOT_OK: *jpeg (malloc'ed, caller frees) holds
 * exactly the *size bytes the head announced, decoded from standard base64
 * with whitespace and newlines ignored. */
head_shot_t head_screenshot_parse(const char *out, size_t len, unsigned char **jpeg, uint64_t *size, char *err,
                                  size_t errlen);

/* Outcome of parsing the log command's stdout. */
typedef enum {
    HEAD_LOGS_OK = 0,
    HEAD_LOGS_MISSING,
    HEAD_LOGS_UNREADABLE,
    HEAD_LOGS_MALFORMED,
} head_logs_t;

/* Parses out[0..len) (UTF-8 from the exec result). *path points into out
 * (path_len bytes). The lines follow at *text (text_len bytes, each line
 * ended by "\n" or "\r\n" except maybe the last). When the head cut the
 * tail to max_bytes, its partial first line is dropped here and *cut set. */
head_logs_t head_logs_parse(const char *out, size_t len, const char **path, size_t *path_len, const char **text,
                            size_t *text_len, int *cut);

#endif
