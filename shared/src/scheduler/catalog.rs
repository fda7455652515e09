//! Which channels serve a model for a client key: the permission rules of `api_keys[].model`
//! applied to every provider's model list (configured or discovered).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::config::{Config, ModelMapping, ModelSource, RuleTarget};

/// One way to serve the requested model: a provider and the id its upstream knows it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Index into `Config::providers`.
    pub provider: usize,
    /// Shared with the catalog: a request's candidates copy no model names.
    pub upstream: Arc<str>,
    /// From a weighted rule such as `gcp1/*: 5`.
    pub weight: Option<u32>,
}

/// The models every provider serves, with alias lookup.
#[derive(Debug, Default)]
pub struct Catalog {
    providers: Vec<ProviderModels>,
}

#[derive(Debug, Default)]
struct ProviderModels {
    mappings: Vec<ModelMapping>,
    /// `mappings[i].upstream`, shared.
    upstreams: Vec<Arc<str>>,
    by_alias: HashMap<String, usize>,
}

/// Why no candidate was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No provider serves the model.
    UnknownModel,
    /// Some provider serves it, but this key's rules do not allow it.
    Forbidden,
}

impl Catalog {
    /// `discovered[i]` holds the ids found at provider `i`'s `/models` (for providers without `model:`).
    pub fn new(config: &Config, discovered: &HashMap<usize, Vec<String>>) -> Self {
        let providers = config
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mappings = match &p.models {
                    ModelSource::Listed(list) => list.clone(),
                    ModelSource::Discover => discovered
                        .get(&i)
                        .map(|ids| {
                            ids.iter().map(|id| ModelMapping { upstream: id.clone(), alias: id.clone() }).collect()
                        })
                        .unwrap_or_default(),
                };
                let mut by_alias = HashMap::with_capacity(mappings.len());
                for (m, mapping) in mappings.iter().enumerate() {
                    by_alias.entry(mapping.alias.clone()).or_insert(m);
                }
                let upstreams = mappings.iter().map(|m| Arc::from(m.upstream.as_str())).collect();
                ProviderModels { mappings, upstreams, by_alias }
            })
            .collect();
        Self { providers }
    }

    /// The upstream id under which `provider` serves `alias`.
    pub fn upstream(&self, provider: usize, alias: &str) -> Option<&Arc<str>> {
        let models = self.providers.get(provider)?;
        models.by_alias.get(alias).map(|&m| &models.upstreams[m])
    }

    fn offered_anywhere(&self, alias: &str) -> bool {
        self.providers.iter().any(|p| p.by_alias.contains_key(alias))
    }

    /// The candidates for `model` under client `client`'s rules, in rule order, without duplicates.
    pub fn resolve(&self, config: &Config, client: usize, model: &str) -> Result<Vec<Candidate>, RouteError> {
        let mut out = Vec::new();
        let mut visiting = HashSet::new();
        self.resolve_into(config, client, model, None, &mut visiting, &mut out);
        if !out.is_empty() {
            Ok(out)
        } else if self.offered_anywhere(model) {
            Err(RouteError::Forbidden)
        } else {
            Err(RouteError::UnknownModel)
        }
    }

    fn resolve_into(
        &self,
        config: &Config,
        client: usize,
        model: &str,
        inherited_weight: Option<u32>,
        visiting: &mut HashSet<usize>,
        out: &mut Vec<Candidate>,
    ) {
        // A key used as a channel by a key it uses as a channel would loop; the inner use adds nothing.
        if !visiting.insert(client) {
            return;
        }
        for rule in &config.clients[client].rules {
            let weight = rule.weight.or(inherited_weight);
            match &rule.target {
                RuleTarget::All => self.push_every_provider(config, model, weight, out),
                RuleTarget::Model(m) | RuleTarget::Literal(m) if m == model => {
                    self.push_every_provider(config, model, weight, out)
                }
                RuleTarget::Model(_) | RuleTarget::Literal(_) => {}
                RuleTarget::ProviderAll(name) => self.push_named(config, name, model, weight, out),
                RuleTarget::ProviderModel(name, m) if m == model => self.push_named(config, name, model, weight, out),
                RuleTarget::ProviderModel(..) => {}
                RuleTarget::ClientAll(other) => self.resolve_into(config, *other, model, weight, visiting, out),
                RuleTarget::ClientModel(other, m) if m == model => {
                    self.resolve_into(config, *other, model, weight, visiting, out)
                }
                RuleTarget::ClientModel(..) => {}
            }
        }
        visiting.remove(&client);
    }

    fn push_every_provider(&self, config: &Config, model: &str, weight: Option<u32>, out: &mut Vec<Candidate>) {
        for i in 0..config.providers.len() {
            self.push(i, model, weight, out);
        }
    }

    fn push_named(&self, config: &Config, name: &str, model: &str, weight: Option<u32>, out: &mut Vec<Candidate>) {
        for (i, p) in config.providers.iter().enumerate() {
            if *p.name == *name {
                self.push(i, model, weight, out);
            }
        }
    }

    fn push(&self, provider: usize, model: &str, weight: Option<u32>, out: &mut Vec<Candidate>) {
        let Some(upstream) = self.upstream(provider, model) else { return };
        if out.iter().any(|c| c.provider == provider && c.upstream == *upstream) {
            return;
        }
        out.push(Candidate { provider, upstream: upstream.clone(), weight });
    }

    /// Every model id client `client` may request, deduplicated, in rule order.
    pub fn models_for(&self, config: &Config, client: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut visiting = HashSet::new();
        self.models_into(config, client, &mut visiting, &mut seen, &mut out);
        out
    }

    fn models_into(
        &self,
        config: &Config,
        client: usize,
        visiting: &mut HashSet<usize>,
        seen: &mut HashSet<String>,
        out: &mut Vec<String>,
    ) {
        if !visiting.insert(client) {
            return;
        }
        let mut add = |alias: &str, out: &mut Vec<String>| {
            if seen.insert(alias.to_owned()) {
                out.push(alias.to_owned());
            }
        };
        for rule in &config.clients[client].rules {
            match &rule.target {
                RuleTarget::All => {
                    for p in &self.providers {
                        p.mappings.iter().for_each(|m| add(&m.alias, out));
                    }
                }
                RuleTarget::Model(m) | RuleTarget::Literal(m) => {
                    if self.offered_anywhere(m) {
                        add(m, out)
                    }
                }
                RuleTarget::ProviderAll(name) => {
                    for (i, p) in config.providers.iter().enumerate() {
                        if *p.name == **name {
                            self.providers[i].mappings.iter().for_each(|m| add(&m.alias, out));
                        }
                    }
                }
                RuleTarget::ProviderModel(name, m) => {
                    let offered = config
                        .providers
                        .iter()
                        .enumerate()
                        .any(|(i, p)| *p.name == **name && self.providers[i].by_alias.contains_key(m));
                    if offered {
                        add(m, out)
                    }
                }
                RuleTarget::ClientAll(other) => {
                    let mut inner = Vec::new();
                    let mut inner_seen = HashSet::new();
                    self.models_into(config, *other, visiting, &mut inner_seen, &mut inner);
                    inner.iter().for_each(|m| add(m, out));
                }
                RuleTarget::ClientModel(other, m) => {
                    if self.resolve(config, *other, m).is_ok() {
                        add(m, out)
                    }
                }
            }
        }
        visiting.remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(keys: &str) -> Config {
        let yaml = format!(
            "providers:
  - provider: p1
    base_url: http://p1/v1
    model: [gpt-4o, {{claude-x-2024: claude-x}}, vendor/m]
  - provider: p2
    base_url: http://p2/v1
    model: [gpt-4o, llama]
  - provider: p3
    base_url: http://p3/v1
api_keys:
{keys}"
        );
        Config::from_yaml_str(&yaml, &|_| None).unwrap()
    }

    fn resolve(
        cfg: &Config,
        catalog: &Catalog,
        client: usize,
        model: &str,
    ) -> Result<Vec<(usize, String, Option<u32>)>, RouteError> {
        catalog
            .resolve(cfg, client, model)
            .map(|cs| cs.into_iter().map(|c| (c.provider, c.upstream.to_string(), c.weight)).collect())
    }

    #[test]
    fn rules_select_channels_in_rule_order_without_duplicates() {
        let cfg = config(
            "  - api: all
  - api: plain
    model: [gpt-4o]
  - api: order
    model: [p2/*, gpt-4o, p1/gpt-4o]
  - api: literal
    model: [<vendor/m>]
  - api: weighted
    model: [{p2/*: 3}, {p1/*: 1}]
  - api: via
    model: [{weighted/*: 7}]
",
        );
        let catalog = Catalog::new(&cfg, &HashMap::new());
        assert_eq!(
            resolve(&cfg, &catalog, 0, "gpt-4o"),
            Ok(vec![(0, "gpt-4o".into(), None), (1, "gpt-4o".into(), None)])
        );
        assert_eq!(resolve(&cfg, &catalog, 0, "claude-x"), Ok(vec![(0, "claude-x-2024".into(), None)]));
        assert_eq!(resolve(&cfg, &catalog, 1, "llama"), Err(RouteError::Forbidden));
        assert_eq!(resolve(&cfg, &catalog, 1, "nope"), Err(RouteError::UnknownModel));
        assert_eq!(
            resolve(&cfg, &catalog, 2, "gpt-4o"),
            Ok(vec![(1, "gpt-4o".into(), None), (0, "gpt-4o".into(), None)])
        );
        assert_eq!(resolve(&cfg, &catalog, 3, "vendor/m"), Ok(vec![(0, "vendor/m".into(), None)]));
        assert_eq!(
            resolve(&cfg, &catalog, 4, "gpt-4o"),
            Ok(vec![(1, "gpt-4o".into(), Some(3)), (0, "gpt-4o".into(), Some(1))])
        );
        // A key used as a channel keeps the inner weights; the outer one fills in where none is set.
        assert_eq!(
            resolve(&cfg, &catalog, 5, "gpt-4o"),
            Ok(vec![(1, "gpt-4o".into(), Some(3)), (0, "gpt-4o".into(), Some(1))])
        );
    }

    #[test]
    fn discovered_models_join_the_catalog_and_cycles_end() {
        let cfg = config("  - api: a\n    model: [b/*]\n  - api: b\n    model: [a/*, p3/*]\n");
        let mut found = HashMap::new();
        found.insert(2, vec!["found-1".to_owned(), "found-2".to_owned()]);
        let catalog = Catalog::new(&cfg, &found);
        assert_eq!(catalog.upstream(2, "found-2").map(|u| &**u), Some("found-2"));
        assert_eq!(resolve(&cfg, &catalog, 0, "found-1"), Ok(vec![(2, "found-1".into(), None)]));
        assert_eq!(catalog.models_for(&cfg, 0), vec!["found-1", "found-2"]);
        assert_eq!(catalog.models_for(&cfg, 1), vec!["found-1", "found-2"]);
    }

    #[test]
    fn model_listing_follows_rule_order() {
        let cfg = config("  - api: k\n    model: [llama, p1/*, gpt-4o, p2/llama, unknown]\n");
        let catalog = Catalog::new(&cfg, &HashMap::new());
        assert_eq!(catalog.models_for(&cfg, 0), vec!["llama", "gpt-4o", "claude-x", "vendor/m"]);
    }
}
