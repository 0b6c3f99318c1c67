//! Who may do what at the desk.

text_enum! {
    /// A user's role. Declaration order is the hierarchy, lowest first: each role may do
    /// everything the ones before it may.
    #[derive(PartialOrd, Ord, tool_runtime::Role)]
    pub enum Role {
        /// A customer with a login: sees only their own records.
        User => "user",
        /// Support staff: looks up and edits customers.
        SupportAgent => "support_agent",
        /// Runs the desk: sees every order, cleans up data.
        Admin => "admin",
        /// May delete customers.
        SuperAdmin => "super_admin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_is_declaration_order() {
        assert!(Role::User < Role::SupportAgent);
        assert!(Role::SupportAgent < Role::Admin);
        assert!(Role::Admin < Role::SuperAdmin);
    }

    #[test]
    fn database_text_and_json_name_agree() {
        for role in Role::ALL {
            let json = serde_json::to_value(role).unwrap();
            assert_eq!(json, serde_json::Value::from(role.as_str()));
            assert_eq!(Role::parse(role.as_str()), Some(*role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
