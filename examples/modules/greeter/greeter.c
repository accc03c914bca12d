// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * greeter: an out-of-tree module using a symbol of another one (hello's
 * hello_greet), so its build needs hello's Module.symvers.
 */
#include <linux/init.h>
#include <linux/module.h>

void hello_greet(const char *who);

static int __init greeter_init(void)
{
	hello_greet("greeter");
	return 0;
}

static void __exit greeter_exit(void)
{
}

module_init(greeter_init);
module_exit(greeter_exit);
MODULE_DESCRIPTION("kforge example: an out-of-tree module using another's symbol");
MODULE_LICENSE("Dual MIT/GPL");
