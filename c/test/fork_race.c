/*
 * Forks while other threads open and close caches: run by c/fork_test.go
 * (TestForkWhileOpeningAndClosing), which builds it against
 * build/libshmlru.so.
 *
 *     fork_race REGION
 *
 * Whatever the other threads are doing when the process forks, the child
 * must hold nothing of the region: no descriptor of its file and no mapping
 * of it, either of which would keep an attachment of the parent alive. Each
 * child checks and reports in its exit status; the program prints
 * "forks N leaked M" and fails if M > 0.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmlru.h"

#define THREADS 4
#define FORKS 300

static const char *path;
static volatile int stop;
static ino_t region_ino;

static shmlru_t open_region(void)
{
	shmlru_options opts;
	memset(&opts, 0, sizeof opts);
	opts.size = 1 << 20;
	shmlru_t h;
	char err[SHMLRU_ERRBUF_SIZE];
	if (shmlru_open(path, strlen(path), &opts, &h, err, sizeof err) != SHMLRU_OK) {
		fprintf(stderr, "shmlru_open: %s\n", err);
		exit(1);
	}
	return h;
}

static void *churn(void *arg)
{
	(void)arg;
	while (!stop) {
		shmlru_t h = open_region();
		if (shmlru_close(h) != SHMLRU_OK) {
			fprintf(stderr, "shmlru_close failed\n");
			exit(1);
		}
	}
	return NULL;
}

/* In the child: how many descriptors and mappings of the region it holds. */
static int region_references(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return 1000;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		struct stat st;
		if (e->d_name[0] != '.' && fstat(atoi(e->d_name), &st) == 0 && st.st_ino == region_ino)
			n++;
	}
	closedir(d);
	FILE *maps = fopen("/proc/self/maps", "r");
	if (maps == NULL)
		return 1000;
	char line[512];
	while (fgets(line, sizeof line, maps) != NULL) {
		unsigned long ino = 0;
		if (sscanf(line, "%*s %*s %*s %*s %lu", &ino) == 1 && ino == region_ino)
			n++;
	}
	fclose(maps);
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fork_race REGION\n");
		return 2;
	}
	path = argv[1];
	shmlru_t h = open_region(); /* creates it; held open throughout */
	struct stat st;
	if (stat(path, &st) != 0) {
		perror(path);
		return 1;
	}
	region_ino = st.st_ino;

	pthread_t threads[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&threads[i], NULL, churn, NULL);
	int leaked = 0;
	for (int i = 0; i < FORKS; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			_exit(region_references() == 0 ? 0 : 1);
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
			fprintf(stderr, "child %d did not exit normally\n", (int)pid);
			return 1;
		}
		if (WEXITSTATUS(status) != 0)
			leaked++;
	}
	stop = 1;
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	if (shmlru_close(h) != SHMLRU_OK)
		return 1;
	printf("forks %d leaked %d\n", FORKS, leaked);
	return leaked ? 1 : 0;
}
