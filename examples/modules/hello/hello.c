// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * hello: a minimal out-of-tree module for kforge's examples. It logs a
 * line when loaded and exports hello_greet() for the greeter module.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>

static char *who = "world";
module_param(who, charp, 0444);
MODULE_PARM_DESC(who, "whom to greet when loaded");

void hello_greet(const char *who)
{
	pr_info("hello: greetings, %s\n", who);
}
EXPORT_SYMBOL(hello_greet);

static int __init hello_init(void)
{
	pr_info("hello: loaded\n");
	pr_info("hello: hello, %s\n", who);
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("hello: unloaded\n");
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_DESCRIPTION("kforge example: an out-of-tree module");
MODULE_LICENSE("Dual MIT/GPL");
