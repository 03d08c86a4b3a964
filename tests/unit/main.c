/*
 * Unit tests of the core library.
 */

#include "unit.h"


unsigned  unit_passed;
unsigned  unit_failed;


int
main(void)
{
    test_node();
    test_buf();
    test_json();
    test_status();
    test_check();
    test_state();
    test_cookie();
    test_session();
    test_change();
    test_pick();
    test_actions();
    test_cluster();
    test_db();
    test_conf();

    printf("%u passed, %u failed\n", unit_passed, unit_failed);

    return unit_failed ? 1 : 0;
}
