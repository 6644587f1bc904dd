#include <sqlite3.h>

// sqlite3_config is variadic, which Swift cannot call: one wrapper per setting kefud uses.

// Turns off SQLite's memory statistics, before the library is first used: each allocation then skips a global
// mutex (kefud's store thread allocates and frees for every record it writes).
static inline int kefu_sqlite3_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
