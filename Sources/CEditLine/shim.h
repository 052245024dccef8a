// Line editing and history for the SQL shell: libedit's readline interface (BSD
// licensed; Debian's libedit-dev).
#include <stdio.h>
#include <editline/readline.h>
