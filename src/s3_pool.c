/*
 * s3_pool: a few worker threads for the S3 backend's parallel transfers
 * (read-ahead parts, upload parts). Jobs run in submission order; each
 * thread keeps its own libcurl handle, so connections are reused. A job
 * must never wait for another job (no deadlock by construction).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "http.h"
#include "s3_i.h"

struct s3_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct s3_job *head, *tail; /* protected by lock */
	bool stopping;              /* protected by lock */
	pthread_t *threads;
	unsigned nthreads;
};

static void *worker(void *arg)
{
	struct s3_pool *p = arg;

	for (;;) {
		struct s3_job *job;

		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		job = p->head;
		if (job) {
			p->head = job->next;
			if (!p->head)
				p->tail = NULL;
		}
		pthread_mutex_unlock(&p->lock);
		if (!job)
			break;
		job->next = NULL;
		job->run(job);
	}
	http_thread_cleanup();
	return NULL;
}

int s3_pool_new(unsigned nthreads, struct s3_pool **out)
{
	struct s3_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->threads = calloc(nthreads ? nthreads : 1, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p))
			break;
		p->nthreads++;
	}
	if (!p->nthreads) {
		s3_pool_free(p);
		return -EAGAIN;
	}
	*out = p;
	return 0;
}

void s3_pool_submit(struct s3_pool *p, struct s3_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void s3_pool_free(struct s3_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	/* Queued jobs still run: their owners wait for them. */
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->threads);
	free(p);
}
