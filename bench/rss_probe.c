/* Peak RSS of loading shared libraries: dlopens each argument (RTLD_NOW, so every symbol is bound and
 * its pages touched as in real use), then exits. bench/memory.lua reads its peak through wait4's ru_maxrss. */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!dlopen(argv[i], RTLD_NOW | RTLD_GLOBAL)) {
			fprintf(stderr, "rss_probe: %s\n", dlerror());
			return 1;
		}
	return 0;
}
