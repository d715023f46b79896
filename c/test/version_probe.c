/* Prints what libshmlru.so reports of its versions, one per line:
 * shmlru_version() and shmlru_abi_version() (c/version_test.go). */
#include <stdio.h>

#include "shmlru.h"

int main(void)
{
	const char *v = shmlru_version();
	if (v == NULL) {
		fputs("shmlru_version() returned NULL\n", stderr);
		return 1;
	}
	printf("%s\n%d\n", v, shmlru_abi_version());
	return 0;
}
