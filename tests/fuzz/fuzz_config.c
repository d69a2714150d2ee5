/*
 * Fuzz target: idgov.conf as idgovd and idgov read it, with the sections
 * of the reviews library ([reviews], [campaign NAME]) parsed too. A
 * configuration that loads is also queried, as the programs would.
 */
#include "fuzz.h"

#include "config.h"
#include "review_config.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	struct idg_err err;
	struct cfg *cfg = NULL;

	if (cfg_load_string_with(text, "fuzz.conf", review_config_extensions, &cfg, &err) == 0) {
		const struct review_config *rc = review_config(cfg);

		for (size_t i = 0; rc != NULL && i < rc->n_campaigns; i++)
			if (review_campaign_cfg(cfg, rc->campaigns[i].name) != &rc->campaigns[i])
				abort();
		(void)review_campaign_cfg(cfg, "quarterly");
		(void)cfg_group_max_duration(cfg, "ops");
		cfg_free(cfg);
	}
	free(text);
	return 0;
}
