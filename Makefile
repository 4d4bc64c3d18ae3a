# The two commands of the README, and `make cluster` (several servers on PostgreSQL and Redis,
# docs/deploy.md: `make cluster ARGS='--servers 5 --roles api,all'`). Each bootstraps Node 24 and
# node_modules when missing.
.PHONY: start test bench e2e clean cluster

start:
	@./scripts/with-node.sh npm start --silent

test:
	@./scripts/with-node.sh npm test --silent

cluster:
	@./scripts/with-node.sh npm run cluster --silent -- $(ARGS)

bench:
	@./scripts/with-node.sh npm run bench --silent

clean:
	rm -rf node_modules .tools data
