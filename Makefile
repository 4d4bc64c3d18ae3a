# The two commands of the README. Each bootstraps Node 24 and node_modules when missing.
.PHONY: start test bench e2e clean

start:
	@./scripts/with-node.sh npm start --silent

test:
	@./scripts/with-node.sh npm test --silent

bench:
	@./scripts/with-node.sh npm run bench --silent

clean:
	rm -rf node_modules .tools data
