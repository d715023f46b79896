/*
 * A C host that forks without exec and then dies: run by c/fork_test.go
 * (TestForkedChildDoesNotKeepDeadParentAttached), which builds it against
 * build/libshmlru.so.
 *
 *     fork_child REGION
 *
 * It opens the cache in REGION, forks, waits until the child runs (fork()
 * has returned in it, so the library's fork handlers have run), prints
 * "parent PID child PID" and kills itself with SIGKILL: it dies holding the
 * cache open, as a crashed process does. The child stays alive, answering
 * each byte it reads on stdin with "child STATUS", STATUS being what
 * shmlru_len returns in it (SHMLRU_FORKED), and exits at the end of stdin.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "shmlru.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fork_child REGION\n");
		return 2;
	}
	shmlru_options opts;
	memset(&opts, 0, sizeof opts);
	opts.size = 1 << 20;
	shmlru_t h;
	char err[SHMLRU_ERRBUF_SIZE];
	if (shmlru_open(argv[1], strlen(argv[1]), &opts, &h, err, sizeof err) != SHMLRU_OK) {
		fprintf(stderr, "shmlru_open: %s\n", err);
		return 1;
	}
	int running[2];
	if (pipe(running) != 0) {
		perror("pipe");
		return 1;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	char c;
	if (pid == 0) {
		if (write(running[1], "r", 1) != 1)
			_exit(1);
		while (read(0, &c, 1) == 1) {
			size_t n;
			printf("child %d\n", shmlru_len(h, &n));
			fflush(stdout);
		}
		_exit(0);
	}
	if (read(running[0], &c, 1) != 1) {
		fprintf(stderr, "the child did not start\n");
		return 1;
	}
	printf("parent %d child %d\n", (int)getpid(), (int)pid);
	fflush(stdout);
	kill(getpid(), SIGKILL);
	return 1;
}
