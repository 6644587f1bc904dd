// KefuReplay: what a shop's day would have been under other rules, and what a day to come needs.
//
// Pure, like the core it drives: recorded inputs (or modelled buyers and agents) and instants in, decisions and day
// figures out. kefuctl reads the store and writes the files; nothing here touches a socket, a clock or a disk.
import KefuCore
