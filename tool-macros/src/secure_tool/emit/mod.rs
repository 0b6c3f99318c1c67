//! The code generated from a checked tool, in three pieces: the argument type the model fills
//! in, the tool's spec (what the toolbox enforces around a call), and the handler (the call).

mod args;
mod handler;
mod spec;

use proc_macro2::TokenStream;
use quote::quote;

use super::model::Tool;

pub fn emit(tool: &Tool) -> TokenStream {
    let func = &tool.func;
    let args = args::emit(tool);
    let tool_type = handler::tool_type(tool);
    let args_impl = args::impl_tool_args(tool);
    let spec = spec::emit(tool);
    let handler = handler::emit(tool, &spec);
    let max_items_check = handler::max_items_check(tool);
    quote! {
        #func

        #args

        #tool_type

        const _: () = {
            use ::tool_runtime::__private as __tr;

            #args_impl

            #handler

            #max_items_check
        };
    }
}
