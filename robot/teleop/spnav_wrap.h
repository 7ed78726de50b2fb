// libspnav's header without its Xlib macros. Include it last: spnav.h pulls in Xlib, whose
// macros (Status, None, Bool, Success) clash with ordinary names. Only for files built
// when libspnav is found (see robot/CMakeLists.txt).
#pragma once

#include <spnav.h>
#undef Status
#undef None
#undef Bool
#undef Success
